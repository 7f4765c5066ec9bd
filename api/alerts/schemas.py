"""What the alert endpoints accept and answer: alert rules and the alerts sent."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal

import msgspec

from api.lib.fields import Id, Name

Channel = Literal["email", "sms", "webhook"]
Cents = Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
RuleKind = Annotated[
    Literal["price_at_or_below", "drop_percent", "deal_score_at_least",
            "new_listing_in_section", "back_in_stock", "new_low", "near_low",
            "keeps_dropping"],
    msgspec.Meta(description="price_at_or_below: a listing's all-in price is at or below "
                 "max_price_cents; drop_percent: the event's get-in price fell by "
                 "drop_percent % or drop_cents from its highest within window_seconds; "
                 "deal_score_at_least: a listing scores min_deal_score or more; "
                 "new_listing_in_section: a new listing in one of sections; back_in_stock: "
                 "a sold-out event has listings again; new_low: the event's get-in price "
                 "is below every earlier one (since tracking began, or within "
                 "low_window_seconds); near_low: the get-in price drops to within "
                 "near_percent % (default 5) of that low; keeps_dropping: drop_count "
                 "(default 2) get-in price drops in a row. With sections, these three "
                 "follow the sections' get-in price instead (the cheapest live listing in "
                 "any of them, every marketplace and quantity; keeps_dropping: one "
                 "section); they take no marketplace")]
LowWindow = Annotated[int, msgspec.Meta(
    ge=3600, le=365 * 86400,
    description="new_low / near_low: the low over this many seconds (unset: all time)")]
NearPercent = Annotated[float, msgspec.Meta(
    gt=0, le=50, description="near_low: how far above the low still counts (%)")]
DropCount = Annotated[int, msgspec.Meta(
    ge=1, le=20, description="keeps_dropping: drops in a row")]
DropCents = Annotated[int, msgspec.Meta(ge=1, le=100_000_000,
                                        description="get-in price drop in cents")]
WindowSeconds = Annotated[int, msgspec.Meta(
    ge=300, le=30 * 86400, description="how far back a drop is measured from (seconds)")]


class AlertRuleIn(msgspec.Struct, forbid_unknown_fields=True):
    """One alert rule. Target exactly one of event_id, watchlist_id, performer, venue_id."""

    kind: RuleKind
    event_id: Id | None = None
    watchlist_id: Id | None = None
    performer: Name | None = None
    venue_id: Id | None = None
    max_price_cents: Cents | None = None
    drop_percent: Annotated[float, msgspec.Meta(gt=0, le=100)] | None = None
    drop_cents: DropCents | None = None
    window_seconds: WindowSeconds | None = None
    low_window_seconds: LowWindow | None = None
    near_percent: NearPercent | None = None
    drop_count: DropCount | None = None
    min_deal_score: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    sections: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=40)]],
                        msgspec.Meta(max_length=50)] | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=50)] = 1
    marketplace: Literal["ticketmaster", "seatgeek", "eventbrite", "stubhub"] | None = None
    channels: Annotated[list[Channel], msgspec.Meta(min_length=1, max_length=3)] = \
        msgspec.field(default_factory=lambda: ["email"])
    quiet_start: time | None = None
    quiet_end: time | None = None
    quiet_timezone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    cooldown_seconds: Annotated[int, msgspec.Meta(ge=60, le=7 * 86400)] = 3600
    active: bool = True


class AlertRulePatch(msgspec.Struct, forbid_unknown_fields=True):
    max_price_cents: Cents | None = None
    drop_percent: Annotated[float, msgspec.Meta(gt=0, le=100)] | None = None
    drop_cents: DropCents | None = None
    window_seconds: WindowSeconds | None = None
    low_window_seconds: LowWindow | None = None
    near_percent: NearPercent | None = None
    drop_count: DropCount | None = None
    min_deal_score: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    sections: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=40)]],
                        msgspec.Meta(max_length=50)] | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=50)] | None = None
    channels: Annotated[list[Channel], msgspec.Meta(min_length=1, max_length=3)] | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None
    quiet_timezone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    cooldown_seconds: Annotated[int, msgspec.Meta(ge=60, le=7 * 86400)] | None = None
    active: bool | None = None


class AlertRule(msgspec.Struct):
    id: int
    kind: str
    event_id: int | None
    watchlist_id: int | None
    performer: str | None
    venue_id: int | None
    max_price_cents: int | None
    drop_percent: float | None
    drop_cents: int | None
    window_seconds: int
    low_window_seconds: int | None
    near_percent: float | None
    drop_count: int | None
    min_deal_score: float | None
    sections: list[str] | None
    quantity: int
    marketplace: str | None
    channels: list[str]
    quiet_start: time | None
    quiet_end: time | None
    quiet_timezone: str | None
    cooldown_seconds: int
    active: bool
    #: when the rule last matched (its newest entry in the match log), None if never
    last_fired_at: datetime | None
    created_at: datetime


class AlertRulePage(msgspec.Struct):
    items: list[AlertRule]
    next: str | None
    next_cursor: str | None


class AlertSent(msgspec.Struct):
    id: int
    rule_id: int | None
    channel: str
    status: str
    payload: dict[str, object]
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


class AlertPage(msgspec.Struct):
    items: list[AlertSent]
    next: str | None
    next_cursor: str | None
