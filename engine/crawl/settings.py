"""Scrapy settings for the crawl workers, from our settings (and the sandbox's URLs).

The crawler reads base URLs and keys only from Scrapy settings, so the sandbox and the
real marketplaces differ only here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.config import Settings

#: a key the sandbox accepts; real keys come from the environment
SANDBOX_KEY = "sandbox"


def scrapy_settings(settings: Settings, sandbox_urls: dict[str, str] | None = None,
                    ) -> dict[str, Any]:
    """Top-level (``cmdline`` priority) Scrapy settings for every crawl worker."""
    s = settings
    out: dict[str, Any] = {
        "TICKETMASTER_BASE_URL": s.ticketmaster_base_url,
        "TICKETMASTER_API_KEY": s.ticketmaster_api_key,
        "SEATGEEK_BASE_URL": s.seatgeek_base_url,
        "SEATGEEK_CLIENT_ID": s.seatgeek_client_id,
        "EVENTBRITE_BASE_URL": s.eventbrite_base_url,
        "EVENTBRITE_TOKEN": s.eventbrite_token,
        "EVENTBRITE_ORGANIZATIONS": s.eventbrite_organizations,
        "STUBHUB_BASE_URL": s.stubhub_base_url,
        "STUBHUB_WEB_URL": s.stubhub_web_url,
        "STUBHUB_TOKEN": s.stubhub_token,
        "RIPCITY_CHROMIUM_PATH": str(s.chromium_path),
        "LOG_LEVEL": "WARNING" if s.log_level in {"INFO", "DEBUG"} else s.log_level,
        "TELNETCONSOLE_ENABLED": False,
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
    return {k: v for k, v in out.items() if v is not None}


def sandbox_budgets() -> dict[str, int]:
    """The sandbox bills nothing: no daily budget."""
    return {}


def daily_budgets(settings: Settings) -> dict[str, int]:
    """Requests per day per marketplace key (``RIPCITY_*_DAILY_BUDGET``)."""
    return {"ticketmaster": settings.ticketmaster_daily_budget,
            "seatgeek": settings.seatgeek_daily_budget,
            "eventbrite": settings.eventbrite_daily_budget,
            "stubhub": settings.stubhub_daily_budget}
