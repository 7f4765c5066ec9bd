"""The one mapping from our settings to the crawl workers' Scrapy settings.

The crawler reads base URLs, keys and budgets only from Scrapy settings, so the sandbox
and the real marketplaces differ only in what this returns. The engine passes everything
at the top (``cmdline``) priority and turns off the crawler's own reading of the
environment (``RIPCITY_SETTINGS_FROM_ENV``): the crawler gets its settings from the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.settings import Settings

#: a key the sandbox accepts; real keys come from the environment
SANDBOX_KEY = "sandbox"


def scrapy_settings(settings: Settings, sandbox_urls: dict[str, str] | None = None,
                    ) -> dict[str, Any]:
    """Top-level (``cmdline`` priority) Scrapy settings for every crawl worker.

    With ``sandbox_urls`` the marketplaces point at the sandbox, which needs no real key,
    bills nothing (no daily budgets) and has no quotas (politeness limits lifted).
    """
    out: dict[str, Any] = {
        **settings.scrapy_settings(),
        "LOG_LEVEL": "WARNING" if settings.log_level in {"INFO", "DEBUG"} else settings.log_level,
        "TELNETCONSOLE_ENABLED": False,
        "RIPCITY_SETTINGS_FROM_ENV": False,
        # items go to the ingest writers, not to the standalone crawl's Parquet files
        "RIPCITY_PARQUET_EXPORT": False,
    }
    if sandbox_urls:
        for market, prefix, key_name in (
                ("ticketmaster", "TICKETMASTER", "API_KEY"), ("seatgeek", "SEATGEEK", "CLIENT_ID"),
                ("eventbrite", "EVENTBRITE", "TOKEN"), ("stubhub", "STUBHUB", "TOKEN")):
            if market in sandbox_urls:
                out[f"{prefix}_BASE_URL"] = sandbox_urls[market]
                out[f"{prefix}_{key_name}"] = out[f"{prefix}_{key_name}"] or SANDBOX_KEY
        if "stubhub_web" in sandbox_urls:
            out["STUBHUB_WEB_URL"] = sandbox_urls["stubhub_web"]
        out.update({"RIPCITY_DAILY_BUDGETS": {}, "RIPCITY_RATE_LIMITS": False,
                    "AUTOTHROTTLE_ENABLED": False})
    return {k: v for k, v in out.items() if v is not None}


def daily_budgets(settings: Settings, sandbox_urls: dict[str, str] | None = None,
                  ) -> dict[str, int]:
    """The crawl frontier's requests per day per marketplace: none for the sandbox."""
    return {} if sandbox_urls else settings.daily_budgets
