"""Fair prices as clients see them: the estimate, its interval, what moved it, comparables."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec


class Factor(msgspec.Struct):
    """One thing that moved the estimate, as a percentage and a sentence."""

    name: str  # "section" | "row" | "days_to_event" | "quantity"
    effect_pct: float
    text: str


class Valuation(msgspec.Struct):
    """What a listed seat is worth by the published fair-price model: the fair all-in price
    per ticket, the interval that covers its true value ``interval_level`` of the time, and
    the two or three factors that moved it most (``explanation`` joins their sentences)."""

    fair_cents: int
    low_cents: int
    high_cents: int
    interval_level: float
    interval_basis: str  # "sales": calibrated on what seats were worth; "asks": on asks
    factors: list[Factor]
    explanation: str  # "Section 112 is 18 % above the venue's median section; row 3 +9 %"
    model_version: str


class ComparableListing(msgspec.Struct):
    marketplace: str
    section: str | None
    row: str | None
    quantity: int
    total_cents: int
    fair_value_cents: int | None
    status: str  # "live" | "gone" (gone listings most likely sold: sale proxies)
    last_seen: datetime
    gone_at: datetime | None


class FairPrice(msgspec.Struct):
    """The fair all-in price per ticket of one seat, and an interval that covers its true
    value ``interval_level`` of the time (calibrated per section tier)."""

    event_id: int
    section: str
    row: str | None
    quantity: int
    tier: str
    fair_cents: int
    low_cents: int
    high_cents: int
    interval_level: float
    interval_basis: str  # "sales": calibrated on what seats were worth; "asks": on asks
    factors: list[Factor]
    comparables: list[ComparableListing]
    model_version: str
    computed_at: datetime
    listings: int  # live listings of the event the level rests on
    row_matched: bool  # False: the model had not seen the row, the section's typical row


class SeatQuery(msgspec.Struct):
    section: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    row: Annotated[str, msgspec.Meta(max_length=12)] | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=99)] = 2


class FairPriceBatch(msgspec.Struct):
    seats: Annotated[list[SeatQuery], msgspec.Meta(min_length=1, max_length=100)]


class FairPriceBatchItem(msgspec.Struct, omit_defaults=True):
    """One seat of a batch: its fair price, or why there is none (the others still are)."""

    seat: SeatQuery
    fair_price: FairPrice | None = None
    error: str | None = None


class FairPriceBatchResult(msgspec.Struct):
    items: list[FairPriceBatchItem]
