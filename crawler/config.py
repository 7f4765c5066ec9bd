"""The crawler's settings group: which marketplaces to call, where, with which keys.

``MarketplaceSettings`` reads ``RIPCITY_<MARKETPLACE>_*`` (base URLs, credentials, daily
request budgets), the Eventbrite organizations, the city and the Chromium path.
``scrapy_settings()`` turns them into the Scrapy setting names the spiders, middlewares and
browser read: the engine passes those to its crawl workers (``engine.crawl.settings``), and
a standalone ``scrapy crawl`` gets them from the environment through
``crawler.addons.EnvironmentSettingsAddon``. Nothing here reads the environment at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from storage.settings import SettingsGroup


class MarketplaceSettings(SettingsGroup):
    """Marketplace endpoints, credentials and quotas; any credential set = no sandbox."""

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
    chromium_path: Path = Field(
        Path("/usr/bin/chromium"), validation_alias="RIPCITY_CHROMIUM_PATH",
        description="Chromium executable Playwright launches for pages that need a browser",
    )

    @property
    def marketplace_keys_set(self) -> bool:
        """True when any real marketplace credential is configured (then no sandbox)."""
        return any((self.ticketmaster_api_key, self.seatgeek_client_id,
                    self.eventbrite_token, self.stubhub_token))

    @property
    def daily_budgets(self) -> dict[str, int]:
        """Requests per day per marketplace key (``RIPCITY_*_DAILY_BUDGET``)."""
        return {"ticketmaster": self.ticketmaster_daily_budget,
                "seatgeek": self.seatgeek_daily_budget,
                "eventbrite": self.eventbrite_daily_budget,
                "stubhub": self.stubhub_daily_budget}

    def scrapy_settings(self) -> dict[str, Any]:
        """These settings under the Scrapy names the crawler's components read."""
        return {
            "TICKETMASTER_BASE_URL": self.ticketmaster_base_url,
            "TICKETMASTER_API_KEY": self.ticketmaster_api_key,
            "SEATGEEK_BASE_URL": self.seatgeek_base_url,
            "SEATGEEK_CLIENT_ID": self.seatgeek_client_id,
            "EVENTBRITE_BASE_URL": self.eventbrite_base_url,
            "EVENTBRITE_TOKEN": self.eventbrite_token,
            "EVENTBRITE_ORGANIZATIONS": self.eventbrite_organizations,
            "STUBHUB_BASE_URL": self.stubhub_base_url,
            "STUBHUB_WEB_URL": self.stubhub_web_url,
            "STUBHUB_TOKEN": self.stubhub_token,
            "RIPCITY_CHROMIUM_PATH": str(self.chromium_path),
            "RIPCITY_DAILY_BUDGETS": self.daily_budgets,
        }
