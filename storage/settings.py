"""Settings machinery, and the settings groups more than one layer reads.

Each layer declares the environment variables it uses as a pydantic-settings group beside
its code: ``StorageSettings`` here, ``crawler.config.MarketplaceSettings``,
``api.settings.ApiSettings`` / ``BillingSettings``, ``engine.settings.EngineSettings`` /
``SandboxSettings`` / ``AlertSettings``. ``engine.settings.Settings`` composes them into
the one object the ``ripcity`` command validates at start and ``ripcity config`` shows.

This module holds what every group shares: loading (a bad value raises ``ConfigError``,
one line naming the variable, the value and what is expected), the process-wide cache
(``current``), the rows ``ripcity config`` and README print (``describe``), and the groups
used by several layers: the log level, storage's own settings, and message delivery
(SMTP, Twilio, and the site address and secret messages link to and sign with), which both
the API and the engine's alert dispatcher send. Nothing here reads the environment at
import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message is one actionable line."""


class SettingsGroup(BaseSettings):
    """Base of every group: fields are read from their ``validation_alias`` only."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=False)


# --- loading, caching, describing ----------------------------------------------------------

def load(cls: type[S], **overrides: Any) -> S:
    """Read and validate ``cls`` from the environment (``overrides`` by variable name win);
    raise ``ConfigError`` on a bad value."""
    try:
        return cls(**overrides)
    except ValidationError as err:
        raise ConfigError(_one_line(cls, err)) from None


def _one_line(cls: type[BaseSettings], err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        field = str((e.get("loc") or ("?",))[0])
        info = cls.model_fields.get(field)
        variable = info.validation_alias if info is not None else field
        expected = e.get("msg", "invalid").removeprefix("Value error, ").removeprefix(
            "Input should be ")
        parts.append(f"{variable}={e.get('input')!r} is not valid: expected {expected}")
    return "; ".join(parts)


_loaded: list[BaseSettings] = []


def current(cls: type[S]) -> S:
    """This process's settings as ``cls``: read from the environment once, then reused.

    An object already loaded serves every group it contains, and a larger one replaces the
    groups it contains: once the engine has loaded the composed ``Settings``,
    ``current(StorageSettings)`` is that same object.
    """
    for loaded in _loaded:
        if isinstance(loaded, cls):
            return loaded
    fresh = load(cls)  # two threads may both load: same environment, same values
    _loaded[:] = [o for o in _loaded if not isinstance(fresh, type(o))] + [fresh]
    return fresh


def clear_cache() -> None:
    """Forget every loaded group: the next ``current`` reads the environment again."""
    _loaded.clear()


class Accessor(Generic[S]):
    """``get_x = Accessor(XSettings)``: ``get_x()`` is ``current(XSettings)``, and
    ``get_x.cache_clear()`` forgets the loaded settings of every group (tests that change
    the environment, ``ripcity serve`` after it resolved the database URL)."""

    def __init__(self, cls: type[S]) -> None:
        self._cls = cls

    def __call__(self) -> S:
        return current(self._cls)

    @staticmethod
    def cache_clear() -> None:
        clear_cache()


def describe(cls: type[BaseSettings]) -> list[tuple[str, str, str]]:
    """(variable, default, description) of every field of ``cls``, in declaration order."""
    rows = []
    for info in cls.model_fields.values():
        default = "" if info.default is None else str(info.default)
        rows.append((str(info.validation_alias), default, info.description or ""))
    return rows


def values_by_variable(settings: BaseSettings) -> dict[str, Any]:
    """Each field's current value under its environment variable's name."""
    return {str(info.validation_alias): getattr(settings, name)
            for name, info in type(settings).model_fields.items()}


def require_scheme(value: str | None, schemes: tuple[str, ...]) -> str | None:
    """``value`` if it starts with one of ``schemes``; "" and None mean unset (None)."""
    if value in (None, ""):
        return None
    if not value.startswith(schemes):
        raise ValueError(f"a URL starting with {' or '.join(schemes)}")
    return value


# --- groups several layers read -----------------------------------------------------------

class LogSettings(SettingsGroup):
    """The log level every entry point uses (the CLI, the API server, a standalone crawl)."""

    log_level: str = Field("INFO", validation_alias="RIPCITY_LOG_LEVEL",
        description="DEBUG, INFO, WARNING, ERROR or CRITICAL")

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return v


class StorageSettings(SettingsGroup):
    """Where the data lives and how storage writes it."""

    database_url: str | None = Field(
        None, validation_alias="RIPCITY_DATABASE_URL",
        description="PostgreSQL URL; unset = the embedded server in RIPCITY_DATA_DIR",
    )
    data_dir: Path = Field(
        Path(".ripcity"), validation_alias="RIPCITY_DATA_DIR",
        description="where the embedded database, logs and exports live",
    )
    embedded_pg_host: str | None = Field(
        None, validation_alias="RIPCITY_EMBEDDED_PG_HOST",
        description="unset = the embedded PostgreSQL listens only on a Unix socket in "
        "RIPCITY_DATA_DIR/pg (no port to collide on); an address = TCP there too, e.g. "
        "127.0.0.1, or 0.0.0.0 for other hosts (then RIPCITY_EMBEDDED_PG_PASSWORD is required)",
    )
    embedded_pg_port: int = Field(
        5432, ge=1024, le=65535, validation_alias="RIPCITY_EMBEDDED_PG_PORT",
        description="port of the embedded PostgreSQL: names its socket file, and is its TCP "
        "port with RIPCITY_EMBEDDED_PG_HOST",
    )
    embedded_pg_password: str | None = Field(
        None, validation_alias="RIPCITY_EMBEDDED_PG_PASSWORD", validate_default=True,
        description="password of the embedded server's `postgres` user over TCP; required "
        "when RIPCITY_EMBEDDED_PG_HOST is not a loopback address",
    )
    db_pool_size: int = Field(8, ge=1, le=200, validation_alias="RIPCITY_DB_POOL_SIZE",
        description="largest connection pool per process")
    retention_days: int = Field(
        400, ge=1, validation_alias="RIPCITY_RETENTION_DAYS",
        description="days of listing snapshots kept",
    )
    last_seen_resolution_s: int = Field(
        900, ge=0, validation_alias="RIPCITY_LAST_SEEN_RESOLUTION_S",
        description="a partial crawl (pages written apart) rewrites an unchanged listing's "
        "last_seen at most this often (seconds; 0 = every time); a complete crawl of an "
        "event writes one time for all its listings instead",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, v: str | None) -> str | None:
        return require_scheme(v, ("postgresql://", "postgres://"))

    @field_validator("embedded_pg_host")
    @classmethod
    def _embedded_host(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None

    @field_validator("embedded_pg_password")
    @classmethod
    def _embedded_password(cls, v: str | None, info: ValidationInfo) -> str | None:
        host = info.data.get("embedded_pg_host")
        if not v and host and not is_loopback(host):
            raise ValueError(f"a password, since RIPCITY_EMBEDDED_PG_HOST={host} lets other "
                             "hosts reach the embedded PostgreSQL")
        return v or None


def is_loopback(host: str) -> bool:
    """``host`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: storage's own settings of this process (``get_storage_settings.cache_clear()`` re-reads)
get_storage_settings = Accessor(StorageSettings)


class SiteSettings(SettingsGroup):
    """The site's address and secret: pages, emails and SMS link to it and sign with it."""

    public_url: str = Field("http://127.0.0.1:8000", validation_alias="RIPCITY_PUBLIC_URL",
        description="the site's public address (links in emails, Stripe return URLs); "
        "unset = http://RIPCITY_API_HOST:RIPCITY_API_PORT")
    secret_key: str | None = Field(
        None, min_length=8, validation_alias="RIPCITY_SECRET_KEY",
        description="signs the one-click unsubscribe links in alert emails (sessions, API "
        "keys and reset tokens are random and stored hashed, not signed); unset = a random "
        "key generated once into RIPCITY_DATA_DIR/secret_key (0600). Set the same value "
        "(32+ random characters) on every host of a multi-host deployment",
    )

    @field_validator("secret_key", mode="before")
    @classmethod
    def _secret_key(cls, v: str | None) -> str | None:
        return v or None  # empty = unset


class DeliverySettings(SiteSettings):
    """Sending messages: SMS through Twilio, email through SMTP (the API and the alert
    dispatcher both send, so the group lives here); messages link to the site."""

    twilio_account_sid: str | None = Field(None, validation_alias="TWILIO_ACCOUNT_SID",
        description="Twilio account SID; unset = no SMS")
    twilio_auth_token: str | None = Field(None, validation_alias="TWILIO_AUTH_TOKEN",
        description="Twilio auth token (also validates inbound webhooks)")
    twilio_from_number: str | None = Field(None, validation_alias="TWILIO_FROM_NUMBER",
        description="the number SMS alerts are sent from")
    twilio_api_base: str | None = Field(None, validation_alias="TWILIO_API_BASE",
        description="Twilio API base URL (tests point it at a local server)")
    smtp_host: str = Field("127.0.0.1", validation_alias="RIPCITY_SMTP_HOST",
        description="SMTP server for email alerts")
    smtp_port: int = Field(8025, ge=0, le=65535, validation_alias="RIPCITY_SMTP_PORT",
        description="SMTP port")
    smtp_user: str | None = Field(None, validation_alias="RIPCITY_SMTP_USER",
        description="SMTP login (unset = no AUTH)")
    smtp_password: str | None = Field(None, validation_alias="RIPCITY_SMTP_PASSWORD",
        description="SMTP password")
    smtp_starttls: bool = Field(False, validation_alias="RIPCITY_SMTP_STARTTLS",
        description="upgrade the SMTP connection with STARTTLS")
    smtp_from: str = Field(
        "Rip City Ticket Dispatch <alerts@ripcity.local>", validation_alias="RIPCITY_SMTP_FROM",
        description="From: of alert emails"
    )
    webhook_allow_private_targets: bool = Field(
        False, validation_alias="RIPCITY_WEBHOOK_ALLOW_PRIVATE_TARGETS",
        description="let webhook endpoints resolve to loopback, private, link-local or "
        "metadata addresses (off: such endpoints are refused, the SSRF guard)")
    webhook_timeout_s: float = Field(10.0, gt=0, le=60, validation_alias="RIPCITY_WEBHOOK_TIMEOUT",
        description="seconds a webhook endpoint has to answer one delivery")
    webhook_max_attempts: int = Field(
        12, ge=1, le=30, validation_alias="RIPCITY_WEBHOOK_MAX_ATTEMPTS",
        description="attempts at one webhook delivery before the endpoint is disabled and "
        "its owner emailed")
    webhook_backoff_base_s: float = Field(
        30.0, gt=0, validation_alias="RIPCITY_WEBHOOK_BACKOFF_BASE",
        description="first webhook retry delay in seconds, doubled per attempt (default: "
        "retries over about 8 hours in 12 attempts)")
    webhook_backoff_max_s: float = Field(
        7200.0, gt=0, validation_alias="RIPCITY_WEBHOOK_BACKOFF_MAX",
        description="longest delay between two webhook retries, seconds")
