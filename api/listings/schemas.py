"""Listings as clients see them; ``listing_of`` maps a stored listing (deals use it too)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from api.valuation.schemas import Valuation

if TYPE_CHECKING:
    from storage.listings import CurrentListing


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
    #: what the seat is worth by the published fair-price model, its interval and the
    #: factors that moved it (an event's listings; null where the model cannot value it)
    valuation: Valuation | None = None


class ListingPage(msgspec.Struct):
    items: list[Listing]
    next: str | None
    next_cursor: str | None


def _splits(raw: str | None) -> list[int] | None:
    if not raw:
        return None
    out = [int(p) for p in raw.replace(" ", "").split(",") if p.isdigit()]
    return out or None


def listing_of(row: CurrentListing, valuation: Valuation | None = None) -> Listing:
    """The public form of a stored listing: splits as numbers, a link to its history, and
    the seat's valuation when the caller has it."""
    return Listing(
        marketplace=row.marketplace, listing_id=row.listing_id, event_id=row.event_id,
        section=row.section, row=row.row, seats=row.seats, quantity=row.quantity,
        splits=_splits(row.splits), price_cents=row.price_cents, fees_cents=row.fees_cents,
        total_cents=row.total_cents, currency=row.currency, delivery=row.delivery,
        kind=row.kind, zone=row.zone, deal_score=row.deal_score, deal_rank=row.deal_rank,
        deal_reason=row.deal_reason, fair_value_cents=row.fair_value_cents,
        first_seen=row.first_seen, last_changed=row.last_changed, buy_url=row.buy_url,
        history_url=(f"/api/v1/events/{row.event_id}/listings/{row.marketplace}/"
                     f"{row.listing_id}/history"), valuation=valuation)
