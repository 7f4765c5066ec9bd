"""Price history as clients see it: bucketed per event or section, and per listing."""

from __future__ import annotations

from datetime import datetime

import msgspec


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
