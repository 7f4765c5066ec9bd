"""The one settings object, read from ``RIPCITY_*`` (and the vendors' ``STRIPE_*``, ``TWILIO_*``)
environment variables.

It lives in ``storage`` because storage is the bottom layer that every other part may
import. Defaults make ``make run`` work with nothing set; a bad value fails at start with
one line naming the variable, the value and what is expected (``ConfigError``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message is one actionable line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=False)

    # --- storage -------------------------------------------------------------------------
    database_url: str | None = Field(
        None, validation_alias="RIPCITY_DATABASE_URL",
        description="PostgreSQL URL; unset = the embedded server in RIPCITY_DATA_DIR",
    )
    data_dir: Path = Field(
        Path(".ripcity"), validation_alias="RIPCITY_DATA_DIR",
        description="where the embedded database, logs and exports live",
    )
    embedded_pg_port: int = Field(
        54329, ge=1024, le=65535, validation_alias="RIPCITY_EMBEDDED_PG_PORT",
        description="127.0.0.1 port of the embedded PostgreSQL",
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
    redis_url: str | None = Field(
        None, validation_alias="RIPCITY_REDIS_URL",
        description="Redis for shared API rate limits and cache; unset = in memory",
    )

    # --- engine --------------------------------------------------------------------------
    ray_address: str | None = Field(
        None, validation_alias="RIPCITY_RAY_ADDRESS",
        description="join this Ray cluster; unset = start Ray locally",
    )
    crawl_workers: int = Field(2, ge=1, le=1024, validation_alias="RIPCITY_CRAWL_WORKERS",
        description="Ray crawl worker actors (each runs one Scrapy reactor)")
    ingest_writers: int = Field(1, ge=1, le=256, validation_alias="RIPCITY_INGEST_WRITERS",
        description="Ray ingest writer actors (COPY into PostgreSQL)")
    max_inflight_batches: int = Field(
        16, ge=1, le=10_000, validation_alias="RIPCITY_MAX_INFLIGHT_BATCHES",
        description="backpressure: record batches in flight between crawl and commit",
    )
    chromium_path: Path = Field(
        Path("/usr/bin/chromium"), validation_alias="RIPCITY_CHROMIUM_PATH",
        description="Chromium executable Playwright launches for pages that need a browser",
    )
    log_level: str = Field("INFO", validation_alias="RIPCITY_LOG_LEVEL",
        description="DEBUG, INFO, WARNING, ERROR or CRITICAL")

    # --- sandbox -------------------------------------------------------------------------
    sandbox_host: str = Field("127.0.0.1", validation_alias="RIPCITY_SANDBOX_HOST",
        description="address the local marketplace simulator binds")
    sandbox_port: int = Field(8600, ge=0, le=65535, validation_alias="RIPCITY_SANDBOX_PORT",
        description="port of the simulator (0 = any free port)")
    sandbox_seed: int = Field(7, validation_alias="RIPCITY_SANDBOX_SEED",
        description="seed of the simulated world (same seed + clock = same responses)")
    sandbox_events: int = Field(120, ge=1, validation_alias="RIPCITY_SANDBOX_EVENTS",
        description="events in the simulated world")
    sandbox_listings_per_event: int = Field(
        400, ge=0, validation_alias="RIPCITY_SANDBOX_LISTINGS_PER_EVENT",
        description="approximate live listings per event per marketplace"
    )

    # --- marketplaces --------------------------------------------------------------------
    ticketmaster_api_key: str | None = Field(None, validation_alias="RIPCITY_TICKETMASTER_API_KEY",
        description="Ticketmaster consumer key (apikey); any key set = no sandbox")
    ticketmaster_base_url: str = Field(
        "https://app.ticketmaster.com", validation_alias="RIPCITY_TICKETMASTER_BASE_URL",
        description="Ticketmaster API base URL"
    )
    ticketmaster_daily_budget: int = Field(
        5000, ge=0, validation_alias="RIPCITY_TICKETMASTER_DAILY_BUDGET",
        description="requests a day the key may spend"
    )
    seatgeek_client_id: str | None = Field(None, validation_alias="RIPCITY_SEATGEEK_CLIENT_ID",
        description="SeatGeek platform client_id")
    seatgeek_base_url: str = Field(
        "https://api.seatgeek.com", validation_alias="RIPCITY_SEATGEEK_BASE_URL",
        description="SeatGeek API base URL"
    )
    seatgeek_daily_budget: int = Field(
        50000, ge=0, validation_alias="RIPCITY_SEATGEEK_DAILY_BUDGET",
        description="requests a day the client id may spend"
    )
    eventbrite_token: str | None = Field(None, validation_alias="RIPCITY_EVENTBRITE_TOKEN",
        description="Eventbrite private token (Bearer)")
    eventbrite_base_url: str = Field(
        "https://www.eventbriteapi.com", validation_alias="RIPCITY_EVENTBRITE_BASE_URL",
        description="Eventbrite API base URL"
    )
    eventbrite_organizations: str = Field(
        "", validation_alias="RIPCITY_EVENTBRITE_ORGANIZATIONS",
        description="comma-separated organization ids whose events are crawled",
    )
    eventbrite_daily_budget: int = Field(
        48000, ge=0, validation_alias="RIPCITY_EVENTBRITE_DAILY_BUDGET",
        description="requests a day the token may spend"
    )
    stubhub_token: str | None = Field(None, validation_alias="RIPCITY_STUBHUB_TOKEN",
        description="StubHub API token (Bearer)")
    stubhub_base_url: str = Field(
        "https://api.stubhub.com", validation_alias="RIPCITY_STUBHUB_BASE_URL",
        description="StubHub API base URL"
    )
    stubhub_web_url: str = Field(
        "https://www.stubhub.com", validation_alias="RIPCITY_STUBHUB_WEB_URL",
        description="site whose event pages are rendered in Chromium",
    )
    stubhub_daily_budget: int = Field(10000, ge=0, validation_alias="RIPCITY_STUBHUB_DAILY_BUDGET",
        description="requests a day the token may spend")
    crawl_city: str = Field("Portland", validation_alias="RIPCITY_CRAWL_CITY",
        description="city whose events are discovered")

    # --- api -----------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", validation_alias="RIPCITY_API_HOST",
        description="address `ripcity run` / `serve` bind the API to")
    api_port: int = Field(8000, ge=0, le=65535, validation_alias="RIPCITY_API_PORT",
        description="port of the API and dashboard")
    public_url: str = Field("http://127.0.0.1:8000", validation_alias="RIPCITY_PUBLIC_URL",
        description="the site's public address (links in emails, Stripe return URLs)")
    secret_key: str = Field(
        "dev-insecure-change-me", min_length=8, validation_alias="RIPCITY_SECRET_KEY",
        description="signs session cookies and unsubscribe links",
    )
    admin_emails: str = Field(
        "", validation_alias="RIPCITY_ADMIN_EMAILS",
        description="comma-separated emails of the accounts that see the dashboard's "
        "operations page",
    )

    # --- billing (Stripe) ----------------------------------------------------------------
    stripe_api_key: str | None = Field(None, validation_alias="STRIPE_API_KEY",
        description="Stripe secret key; unset = billing endpoints answer 503")
    stripe_webhook_secret: str | None = Field(None, validation_alias="STRIPE_WEBHOOK_SECRET",
        description="signing secret of the /webhooks/stripe endpoint (whsec_...)")
    stripe_api_base: str | None = Field(None, validation_alias="STRIPE_API_BASE",
        description="Stripe API base URL (tests point it at a local Stripe)")
    stripe_price_monthly: str | None = Field(None, validation_alias="STRIPE_PRICE_MONTHLY",
        description="price id of the monthly premium plan")
    stripe_price_annual: str | None = Field(None, validation_alias="STRIPE_PRICE_ANNUAL",
        description="price id of the annual premium plan")
    billing_grace_days: float = Field(
        7, ge=0, le=90, validation_alias="RIPCITY_BILLING_GRACE_DAYS",
        description="days a premium account keeps premium after a failed payment",
    )
    billing_sweep_seconds: float = Field(
        300, gt=0, validation_alias="RIPCITY_BILLING_SWEEP_SECONDS",
        description="how often the API moves accounts whose grace period ended to free",
    )

    # --- alerts: SMS (Twilio) and email (SMTP) -------------------------------------------
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

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return v

    @field_validator("database_url", "redis_url")
    @classmethod
    def _url(cls, v: str | None, info: Any) -> str | None:
        if v in (None, ""):
            return None
        schemes = ("postgresql://", "postgres://") if info.field_name == "database_url" else (
            "redis://", "rediss://", "unix://")
        if not v.startswith(schemes):
            raise ValueError(f"a URL starting with {' or '.join(schemes)}")
        return v

    @property
    def marketplace_keys_set(self) -> bool:
        """True when any real marketplace credential is configured (then no sandbox)."""
        return any((self.ticketmaster_api_key, self.seatgeek_client_id,
                    self.eventbrite_token, self.stubhub_token))


def _one_line(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = e.get("loc") or ("?",)
        field = str(loc[0])
        alias = Settings.model_fields[field].validation_alias if field in Settings.model_fields \
            else field
        expected = e.get("msg", "invalid").removeprefix("Value error, ").removeprefix(
            "Input should be ")
        parts.append(f"{alias}={e.get('input')!r} is not valid: expected {expected}")
    return "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings from the environment; raise ``ConfigError`` on a bad value."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise ConfigError(_one_line(err)) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached); tests that change the environment call ``cache_clear``."""
    return load_settings()


def describe_variables() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting: README and ``--help`` use it."""
    rows = []
    for field in Settings.model_fields.values():
        default = "" if field.default is None else str(field.default)
        rows.append((str(field.validation_alias), default, field.description or ""))
    return rows
