"""The API's settings groups, and ``AppSettings``: everything ``create_app`` reads.

``AppSettings`` (the API and billing groups here, plus storage's and message delivery's)
loads on its own, so a uvicorn worker builds the app without the engine; the engine's
composed ``engine.settings.Settings`` is an ``AppSettings`` too.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from storage.settings import (
    Accessor,
    DeliverySettings,
    SettingsGroup,
    StorageSettings,
    require_scheme,
)


class ApiSettings(SettingsGroup):
    """Where the API listens, who administers it, and where API processes share state."""

    redis_url: str | None = Field(
        None, validation_alias="RIPCITY_REDIS_URL",
        description="Redis for shared API rate limits and cache; unset = in memory",
    )
    api_host: str = Field("127.0.0.1", validation_alias="RIPCITY_API_HOST",
        description="address `ripcity run` / `serve` bind the API to")
    api_port: int = Field(8000, ge=0, le=65535, validation_alias="RIPCITY_API_PORT",
        description="port of the API and dashboard")
    metrics_token: str | None = Field(
        None, min_length=16, validation_alias="RIPCITY_METRICS_TOKEN",
        description="bearer token a Prometheus scraper sends to /metrics; unset = /metrics "
        "answers only clients on this machine (loopback)",
    )
    admin_emails: str = Field(
        "", validation_alias="RIPCITY_ADMIN_EMAILS",
        description="comma-separated emails of the accounts that see the dashboard's "
        "operations page",
    )
    stale_after_s: float = Field(
        1800, gt=0, validation_alias="RIPCITY_STALE_AFTER_SECONDS",
        description="a marketplace's prices for an event are `stale` when its last complete "
        "crawl is older than this; a marketplace with no complete crawl of any event for "
        "this long is shown as failing (blocked or down)",
    )

    database_read_urls: str = Field(
        "", validation_alias="RIPCITY_DATABASE_READ_URLS",
        description="comma-separated URLs of streaming replicas for the API's reads "
        "(a healthy one under the lag bound serves; writes stay on the primary); unset = "
        "the primary serves every read",
    )
    replica_max_lag_s: float = Field(
        5.0, gt=0, le=3600, validation_alias="RIPCITY_REPLICA_MAX_LAG_S",
        description="a replica lagging more seconds than this is skipped",
    )
    read_your_writes_s: float = Field(
        10.0, ge=0, le=3600, validation_alias="RIPCITY_READ_YOUR_WRITES_S",
        description="seconds a caller's reads go to the primary after they wrote",
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        return require_scheme(v, ("redis://", "rediss://", "unix://"))

    @field_validator("database_read_urls")
    @classmethod
    def _read_urls(cls, v: str) -> str:
        for url in _split(v):
            require_scheme(url, ("postgresql://", "postgres://"))
        return v

    @property
    def read_urls(self) -> list[str]:
        """``RIPCITY_DATABASE_READ_URLS`` as a list."""
        return _split(self.database_read_urls)


def _split(urls: str) -> list[str]:
    return [u.strip() for u in urls.split(",") if u.strip()]


class BillingSettings(SettingsGroup):
    """Stripe: keys, plan prices, and what happens after a failed payment."""

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


class AppSettings(DeliverySettings, BillingSettings, ApiSettings, StorageSettings):
    """Everything the API app reads: its own groups, storage, and message delivery."""

    @model_validator(mode="after")
    def _site_key(self) -> AppSettings:
        """No ``RIPCITY_SECRET_KEY``: the key generated once into the data directory."""
        if not self.secret_key:
            from storage.secret_key import load_or_create

            self.secret_key = load_or_create(self.data_dir)
        return self

    @model_validator(mode="after")
    def _public_url(self) -> AppSettings:
        """No ``RIPCITY_PUBLIC_URL``: the address this API serves on, so links in emails
        follow ``RIPCITY_API_PORT`` (a wildcard bind is reached on this machine as loopback;
        exposing it needs the public address set)."""
        if "public_url" not in self.model_fields_set:
            host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.api_host, self.api_host)
            self.public_url = f"http://{f'[{host}]' if ':' in host else host}:{self.api_port}"
        return self


#: the API app's settings of this process (uvicorn workers load them on their own)
get_app_settings = Accessor(AppSettings)
