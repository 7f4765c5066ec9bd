"""A seat's fair price from the published model, with the factors that moved it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from api.valuation.schemas import ComparableListing, Factor, FairPrice
from storage.valuation import comparables, seat_value

if TYPE_CHECKING:
    import psycopg

    from storage.valuation import Comparable, SeatValue


def _pct(effect: float) -> float:
    return round(math.expm1(effect) * 100.0, 1)


def factors(v: SeatValue, top: int = 3) -> list[Factor]:
    """The ``top`` largest effects, each as a sentence: "Section 112 is 18 % above the
    venue's median section"."""
    out = [
        Factor("section", _pct(v.section_effect),
               f"Section {v.section} is {abs(_pct(v.section_effect)):.0f} % "
               f"{'above' if v.section_effect >= 0 else 'below'} the venue's median section"),
    ]
    if v.matched_row != "?":
        out.append(Factor("row", _pct(v.row_effect),
                          f"row {v.row} {_pct(v.row_effect):+.0f} % against the section's "
                          "typical row"))
    if v.days_to_event is not None:
        days = max(v.days_to_event, 0.0)
        when = f"{days:.0f} days to the event" if days >= 1 else "less than a day to go"
        out.append(Factor("days_to_event", _pct(v.days_effect),
                          f"{when} {_pct(v.days_effect):+.0f} %"))
    out.append(Factor("quantity", _pct(v.quantity_effect),
                      f"{v.quantity} ticket{'s' if v.quantity != 1 else ''} together "
                      f"{_pct(v.quantity_effect):+.0f} %"))
    out.sort(key=lambda f: -abs(f.effect_pct))
    return out[:top]


def _comparable(c: Comparable) -> ComparableListing:
    return ComparableListing(c.marketplace, c.section, c.row, c.quantity, c.total_cents,
                             c.fair_value_cents, "gone" if c.gone_at else "live",
                             c.last_seen, c.gone_at)


async def fair_price(conn: psycopg.AsyncConnection[Any], event_id: int, section: str,
                     row: str | None, quantity: int) -> FairPrice:
    """The fair price of one seat (``storage.errors.NotFound`` when there is none)."""
    v = await seat_value(conn, event_id, section, row, quantity)
    live = await comparables(conn, event_id, section, row, live=True)
    gone = await comparables(conn, event_id, section, row, live=False)
    return FairPrice(
        event_id=event_id, section=v.section, row=None if v.row == "?" else v.row,
        quantity=v.quantity, tier=v.tier, fair_cents=v.fair_cents, low_cents=v.low_cents,
        high_cents=v.high_cents, interval_level=round(v.interval_level, 3),
        interval_basis=v.interval_basis, factors=factors(v),
        comparables=[_comparable(c) for c in (*live, *gone)],
        model_version=v.model_version, computed_at=v.computed_at, listings=v.listings,
        row_matched=v.matched_row != "?" or v.row == "?")
