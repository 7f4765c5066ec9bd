"""What the purchase resources accept and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from api.alerts.schemas import Channel  # a purchase owns an alert rule: the rules' channels
from api.lib.fields import Id


class PurchaseIn(msgspec.Struct, forbid_unknown_fields=True):
    """A purchase to watch: alerts when the same or better seats (same section, same or
    better row, as many tickets or more) are listed below ``price_paid_cents`` (all-in, per
    ticket) while the claim window is open."""

    event_id: Id
    marketplace: Annotated[str, msgspec.Meta(
        min_length=2, max_length=40, pattern="^[a-z_]+$",
        description="where you bought: one of ours, or e.g. gametime, ticketsmarter")]
    section: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    price_paid_cents: Annotated[int, msgspec.Meta(ge=1, le=100_000_000,
                                                  description="all-in per ticket")]
    purchased_at: datetime
    row: Annotated[str, msgspec.Meta(min_length=1, max_length=10)] | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=50)] = 1
    claim_window_hours: Annotated[float, msgspec.Meta(
        gt=0, le=24 * 30, description="override the marketplace's claim window (required "
        "where it publishes none)")] | None = None
    channels: Annotated[list[Channel], msgspec.Meta(min_length=1, max_length=3)] = \
        msgspec.field(default_factory=lambda: ["email"])


class Purchase(msgspec.Struct):
    id: int
    event_id: int
    event_name: str
    starts_at: datetime | None
    marketplace: str
    section: str
    row: str | None
    quantity: int
    price_paid_cents: int
    purchased_at: datetime
    claim_ends_at: datetime
    watching: bool
    channels: list[str]
    rule_id: int
    created_at: datetime
    evidence_count: int
    lowest_seen_cents: int | None
    evidence_url: str
    claim_page_url: str


class EvidenceItem(msgspec.Struct):
    marketplace: str
    listing_id: str
    section: str | None
    row: str | None
    quantity: int | None
    total_cents: int
    #: the snapshot that showed the listing at this price
    observed_at: datetime
    recorded_at: datetime
    #: the listing's price history in our API
    history_url: str


class ClaimRecord(msgspec.Struct):
    """The downloadable record to attach to a claim."""

    purchase: Purchase
    difference_cents: int | None
    evidence: list[EvidenceItem]
    generated_at: datetime
    event_history_url: str


class ClaimWindow(msgspec.Struct):
    marketplace: str
    window_seconds: int | None
    refund_percent: float | None
    policy: str
    source_url: str | None
