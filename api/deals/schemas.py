"""Deals as clients see them: a scored listing with the event it is for."""

from __future__ import annotations

from datetime import datetime

import msgspec

from api.listings.schemas import Listing


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
