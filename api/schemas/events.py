"""Events, listings, price history and deals as clients see them."""

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
    listings_url: str
    history_url: str
    refresh_url: str


class EventPage(msgspec.Struct):
    items: list[EventSummary]
    next: str | None
    next_cursor: str | None


class Listing(msgspec.Struct):
    marketplace: str
    listing_id: str
    event_id: int
    section: str | None
    row: str | None
    seats: str | None
    quantity: int
    splits: list[int] | None
    price_cents: int
    fees_cents: int | None
    total_cents: int
    currency: str | None
    delivery: str | None
    kind: str | None
    zone: str | None
    deal_score: float | None
    deal_rank: int | None
    deal_reason: str | None
    fair_value_cents: int | None
    first_seen: datetime
    last_changed: datetime
    buy_url: str | None
    history_url: str


class ListingPage(msgspec.Struct):
    items: list[Listing]
    next: str | None
    next_cursor: str | None


class HistoryPoint(msgspec.Struct):
    bucket_start: datetime
    marketplace: str | None  # None when marketplaces are merged
    min_cents: int
    median_cents: int
    max_cents: int
    listing_count: int


class PriceHistory(msgspec.Struct):
    event_id: int
    bucket: str
    section: str | None
    merged: bool
    since: datetime
    until: datetime
    points: list[HistoryPoint]


class ListingPoint(msgspec.Struct):
    observed_at: datetime
    price_cents: int
    fees_cents: int | None
    total_cents: int
    quantity: int


class ListingHistory(msgspec.Struct):
    marketplace: str
    listing_id: str
    event_id: int
    points: list[ListingPoint]


class EventBrief(msgspec.Struct):
    id: int
    name: str
    starts_at: datetime | None
    venue_name: str | None
    city: str | None
    category: str | None


class Deal(msgspec.Struct):
    event: EventBrief
    listing: Listing


class DealPage(msgspec.Struct):
    items: list[Deal]
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
