"""The engine's settings groups, and ``Settings``: the one validated object of a process.

``Settings`` composes every layer's group (the engine's here, the crawler's
``MarketplaceSettings``, the API's ``AppSettings`` with storage and message delivery, the
log level). The ``ripcity`` command loads it once at start, so a bad value anywhere stops
it with one line (``storage.settings.ConfigError``, exit 2), and ``ripcity config`` lists
it. The engine hands each layer its part: Scrapy settings to the crawl workers
(``engine.crawl.settings``), the settings object to ``api.app.create_app``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field

from api.settings import AppSettings
from crawler.config import MarketplaceSettings
from storage.settings import Accessor, LogSettings, SettingsGroup, describe, load


class EngineSettings(SettingsGroup):
    """Ray, the actors' counts and bounds, and the engine's plug-in seams."""

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
    change_hooks: str = Field(
        "", validation_alias="RIPCITY_CHANGE_HOOKS",
        description="comma-separated `module:factory` post-commit hooks run besides the alert "
        "matcher (factory(database_url) has on_changes); `none` = no hooks at all",
    )


class AlertSettings(SettingsGroup):
    """The alert dispatcher's tunables (the defaults of ``ripcity alerts dispatch``'s options)."""

    alert_coalesce_seconds: float = Field(
        30.0, ge=0, validation_alias="RIPCITY_ALERT_COALESCE_SECONDS",
        description="minimum gap between two messages to one person on one channel: the "
        "first alert after a quiet spell goes at once, matches within the gap are merged "
        "into one message sent when it ends",
    )
    alert_daily_cap: int = Field(50, ge=0, validation_alias="RIPCITY_ALERT_DAILY_CAP",
        description="messages per person, channel and local day")
    alert_max_attempts: int = Field(8, ge=1, validation_alias="RIPCITY_ALERT_MAX_ATTEMPTS",
        description="attempts at sending one message before it is given up as failed")
    alert_send_workers: int = Field(8, ge=1, validation_alias="RIPCITY_ALERT_SEND_WORKERS",
        description="messages sent at once (threads; each keeps one SMTP connection open)")


#: the simulator's fault presets (``sandbox.faults.PRESETS``)
SandboxFaults = Literal["none", "light", "heavy"]


class SandboxSettings(SettingsGroup):
    """The local marketplace simulator the engine starts when no marketplace key is set."""

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
    sandbox_start: date | None = Field(None, validation_alias="RIPCITY_SANDBOX_START",
        description="first day of the simulated season (YYYY-MM-DD); unset = today for "
        "`ripcity run`, 2026-10-01 for `ripcity run --once` (reproducible runs)")
    sandbox_faults: SandboxFaults = Field(
        "light", validation_alias="RIPCITY_SANDBOX_FAULTS",
        description="faults the simulator injects (429s, 5xx, slow and truncated bodies, "
        "malformed records): none, light or heavy (`ripcity run --sandbox-faults`)",
    )


class Settings(LogSettings, AlertSettings, EngineSettings, SandboxSettings, MarketplaceSettings,
               AppSettings):
    """Every setting of every layer: what the ``ripcity`` command validates and shows (in
    layer order: storage and the API's groups first, the log level last)."""


#: this process's settings (cached; ``get_settings.cache_clear()`` re-reads the environment)
get_settings = Accessor(Settings)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate every setting (``overrides`` by variable name win); raise
    ``ConfigError`` on a bad value."""
    return load(Settings, **overrides)


def describe_variables() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting: README and ``ripcity config``."""
    return describe(Settings)
