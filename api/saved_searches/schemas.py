"""What the saved-search endpoints accept and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from api.events.schemas import EventSummary
from api.lib.fields import Id, Name

Channel = Literal["email", "sms"]
Cents = Annotated[int, msgspec.Meta(ge=0, le=100_000_000,
                                    description="integer cents, all-in per ticket")]
Marketplace = Literal["ticketmaster", "seatgeek", "eventbrite", "stubhub"]
Sort = Literal["date", "price", "deal"]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=20, description="tickets together")]
Score = Annotated[float, msgspec.Meta(ge=0, le=100, description="minimum deal score")]


class SavedSearchIn(msgspec.Struct, forbid_unknown_fields=True):
    """A search of ``GET /api/v1/events`` (same parameters) kept with a name.

    ``alert_new_events``: tell me when a new event matches; ``alert_listings``: tell me when
    a listing of a matching event meets ``max_price_cents`` / ``min_deal_score`` /
    ``quantity`` (once per listing and price, never for what is already listed).
    """

    name: Name
    q: Text | None = None
    starts_after: datetime | None = None
    starts_before: datetime | None = None
    category: Short | None = None
    city: Short | None = None
    venue_id: Id | None = None
    marketplace: Marketplace | None = None
    min_price_cents: Cents | None = None
    max_price_cents: Cents | None = None
    quantity: Quantity = 1
    min_deal_score: Score | None = None
    sort: Sort = "date"
    alert_new_events: bool = False
    alert_listings: bool = False
    channels: list[Channel] = msgspec.field(default_factory=lambda: ["email"])


class SavedSearchPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change; ``null`` clears a filter."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    q: Text | msgspec.UnsetType | None = msgspec.UNSET
    starts_after: datetime | msgspec.UnsetType | None = msgspec.UNSET
    starts_before: datetime | msgspec.UnsetType | None = msgspec.UNSET
    category: Short | msgspec.UnsetType | None = msgspec.UNSET
    city: Short | msgspec.UnsetType | None = msgspec.UNSET
    venue_id: Id | msgspec.UnsetType | None = msgspec.UNSET
    marketplace: Marketplace | msgspec.UnsetType | None = msgspec.UNSET
    min_price_cents: Cents | msgspec.UnsetType | None = msgspec.UNSET
    max_price_cents: Cents | msgspec.UnsetType | None = msgspec.UNSET
    quantity: Quantity | msgspec.UnsetType = msgspec.UNSET
    min_deal_score: Score | msgspec.UnsetType | None = msgspec.UNSET
    sort: Sort | msgspec.UnsetType = msgspec.UNSET
    alert_new_events: bool | msgspec.UnsetType = msgspec.UNSET
    alert_listings: bool | msgspec.UnsetType = msgspec.UNSET
    channels: list[Channel] | msgspec.UnsetType = msgspec.UNSET


class SavedSearch(msgspec.Struct):
    id: int
    name: str
    q: str | None
    starts_after: datetime | None
    starts_before: datetime | None
    category: str | None
    city: str | None
    venue_id: int | None
    marketplace: str | None
    min_price_cents: int | None
    max_price_cents: int | None
    quantity: int
    min_deal_score: float | None
    sort: str
    alert_new_events: bool
    alert_listings: bool
    channels: list[str]
    last_viewed_at: datetime
    #: matching events stored since you last opened it
    new_events: int
    #: live listings meeting its conditions first seen since you last opened it (max 1000)
    new_listings: int
    last_alerted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    #: its results (opening them marks it looked at)
    results_url: str


class SavedSearchPage(msgspec.Struct):
    items: list[SavedSearch]
    next: str | None
    next_cursor: str | None


class SavedSearchResults(msgspec.Struct):
    """A saved search's events now; ``new_event_ids`` were stored since you last looked."""

    saved_search: SavedSearch
    items: list[EventSummary]
    new_event_ids: list[int]
    next: str | None
    next_cursor: str | None
