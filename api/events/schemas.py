"""Events and refresh requests as clients see them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec


class Venue(msgspec.Struct):
    id: int
    name: str
    city: str | None
    timezone: str | None


class MarketplaceLink(msgspec.Struct):
    marketplace: str
    source_event_id: str
    url: str | None


class MarketplacePrice(msgspec.Struct):
    """The cheapest all-in ticket on one marketplace now, and how many listings it has."""

    marketplace: str
    get_in_cents: int | None
    listing_count: int


class PriceTrend(msgspec.Struct):
    """Get-in price now against ``hours`` ago (from hourly rollups)."""

    direction: Literal["up", "down", "flat", "unknown"]
    hours: int
    get_in_cents_then: int | None
    change_cents: int | None
    change_percent: float | None


class EventSummary(msgspec.Struct):
    id: int
    name: str
    starts_at: datetime | None
    category: str | None
    performers: list[str]
    status: str
    venue: Venue | None
    get_in_cents: int | None
    listing_count: int
    best_deal_score: float | None
    marketplaces: list[str]
    url: str


class MarketplaceFreshness(msgspec.Struct):
    """How current one marketplace's prices for the event are."""

    marketplace: str
    #: the last complete crawl of the event there (None: never crawled completely)
    fresh_as_of: datetime | None
    age_seconds: float | None
    #: older than RIPCITY_STALE_AFTER_SECONDS: do not take these prices as live
    stale: bool
    #: the marketplace completed no crawl of any event lately: it is blocking us or down
    marketplace_failing: bool


class EventDetail(msgspec.Struct):
    id: int
    name: str
    starts_at: datetime | None
    category: str | None
    performers: list[str]
    status: str
    timezone: str | None
    venue: Venue | None
    get_in_cents: int | None
    listing_count: int
    links: list[MarketplaceLink]
    prices: list[MarketplacePrice]
    trend: PriceTrend
    freshness: list[MarketplaceFreshness]
    listings_url: str
    history_url: str
    refresh_url: str


class EventPage(msgspec.Struct):
    items: list[EventSummary]
    next: str | None
    next_cursor: str | None


class RefreshRequest(msgspec.Struct):
    id: int
    event_id: int | None
    status: str
    requested_at: datetime
    claimed_at: datetime | None
    finished_at: datetime | None
    error: str | None
    poll_url: str
