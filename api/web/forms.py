"""Dashboard forms decoded into typed values before anything reaches SQL.

Each form is a msgspec Struct: the posted strings are converted (``strict=False``: "12" is
an int) and checked against the same bounds the REST schemas declare. A value that does not
fit is an :class:`ApiError` saying which box is wrong and what it takes — the page shows it
as a note, never a 500. Blank boxes are absent (None).
"""

from __future__ import annotations

import math
import re
from datetime import time
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import msgspec

from api.lib.errors import ApiError

if TYPE_CHECKING:
    from api.web.common import Form

F = TypeVar("F", bound=msgspec.Struct)

_Id = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
_Short = Annotated[str, msgspec.Meta(max_length=200)]
_Dollars = Annotated[str, msgspec.Meta(max_length=20)]
_Clock = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class RuleForm(msgspec.Struct, forbid_unknown_fields=False):
    """The alert-rule form (event page and alerts page); ``value`` follows ``kind``."""

    kind: _Short | None = None
    event_id: _Id | None = None
    venue_id: _Id | None = None
    watchlist_id: _Id | None = None
    performer: _Short | None = None
    value: _Dollars | None = None
    max_price: _Dollars | None = None
    drop_percent: Annotated[float, msgspec.Meta(ge=0.1, le=100)] | None = None
    drop_dollars: _Dollars | None = None
    window_hours: Annotated[float, msgspec.Meta(ge=1, le=720)] | None = None
    low_window_days: Annotated[float, msgspec.Meta(ge=1, le=365)] | None = None
    near_percent: Annotated[float, msgspec.Meta(ge=0.1, le=50)] | None = None
    drop_count: Annotated[int, msgspec.Meta(ge=1, le=20)] | None = None
    min_deal_score: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    sections: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=50)] | None = None
    channels: list[_Short] = []
    active: _Short | None = None


class PurchaseForm(msgspec.Struct, forbid_unknown_fields=False):
    """Record a purchase (price protection): where, what, how many, the all-in price paid."""

    event_id: _Id | None = None
    marketplace: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_-]{1,40}$")] = "seatgeek"
    section: Annotated[str, msgspec.Meta(max_length=40)] = "?"
    row: Annotated[str, msgspec.Meta(max_length=10)] | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=50)] = 1
    price_paid: _Dollars = ""
    purchased_at: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    claim_window_hours: Annotated[float, msgspec.Meta(ge=0.1, le=24 * 365)] | None = None
    channels: list[_Short] = []


class WatchForm(msgspec.Struct, forbid_unknown_fields=False):
    """Add to the watchlist: an event, a venue or a performer."""

    kind: Literal["event", "venue", "performer"] = "event"
    event_id: _Id | None = None
    venue_id: _Id | None = None
    performer: _Short | None = None
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class QuietHours(msgspec.Struct, forbid_unknown_fields=False):
    """The account's quiet hours (both or neither, HH:MM on a 24-hour clock)."""

    quiet_start: _Clock | None = None
    quiet_end: _Clock | None = None

    def times(self) -> tuple[time | None, time | None]:
        return _clock(self.quiet_start), _clock(self.quiet_end)


#: how each box is named on the page, for the note that says which one is wrong
_LABELS = {"event_id": "The event", "venue_id": "The venue", "watchlist_id": "The watchlist",
           "drop_percent": "The drop (percent)", "window_hours": "The window (hours)",
           "min_deal_score": "The deal score", "quantity": "Tickets", "kind": "What to watch",
           "quiet_start": "Quiet hours start", "quiet_end": "Quiet hours end",
           "claim_window_hours": "The claim window (hours)", "price_paid": "The price paid"}
_WHERE = re.compile(r" - at `\$\.(\w+)")


def decode_form(form: Form, schema: type[F], *, lists: tuple[str, ...] = ()) -> F:
    """The posted ``form`` as ``schema``; an :class:`ApiError` naming the box otherwise."""
    data: dict[str, Any] = {}
    for name in schema.__struct_fields__:
        if name in lists:
            data[name] = form.all(name)
        elif (value := form.get(name)) != "":
            data[name] = value
    try:
        return msgspec.convert(data, schema, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _WHERE.search(text)
        field = match.group(1) if match else ""
        reason = _WHERE.sub("", text).replace("Expected", "expected")
        label = _LABELS.get(field, f"The {field.replace('_', ' ')}" if field else "A value")
        raise ApiError(f"{label} is not valid: {reason}.") from None


def money(value: str, what: str) -> int:
    """A dollar amount typed by a person ("85", "$85.50", "1,200") in cents."""
    try:
        dollars = float(value.replace("$", "").replace(",", ""))
    except ValueError:
        dollars = math.nan
    if not math.isfinite(dollars):
        raise ApiError(f"{what} must be a price in dollars, like 85 or 85.50.")
    if not 0 <= dollars <= 1_000_000:
        raise ApiError(f"{what} must be between $0 and $1,000,000.")
    return round(dollars * 100)


def number(value: str, what: str, low: float, high: float) -> float:
    """A number typed in a free box, within [low, high]."""
    try:
        n = float(value)
    except ValueError:
        n = math.nan
    if not math.isfinite(n):
        raise ApiError(f"{what} must be a number.")
    if not low <= n <= high:
        raise ApiError(f"{what} must be between {low:g} and {high:g}.")
    return n


def _clock(value: str | None) -> time | None:
    return None if value is None else time.fromisoformat(value)
