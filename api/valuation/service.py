"""A seat's fair price from the published model, with the factors that moved it: for the
fair-price endpoint and seller tool (``fair_price``) and, batched, for a page of listings
(``valuations``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from api.valuation.schemas import ComparableListing, Factor, FairPrice, Valuation
from storage.valuation import Seat, comparables, seat_value, seat_values

if TYPE_CHECKING:
    from collections.abc import Sequence

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


def valuation_of(v: SeatValue) -> Valuation:
    """A seat's value as a listing row shows it: price, interval, and what moved it."""
    fs = factors(v)
    return Valuation(fair_cents=v.fair_cents, low_cents=v.low_cents, high_cents=v.high_cents,
                     interval_level=round(v.interval_level, 3),
                     interval_basis=v.interval_basis, factors=fs,
                     explanation="; ".join(f.text for f in fs), model_version=v.model_version)


async def valuations(conn: psycopg.AsyncConnection[Any], event_id: int,
                     seats: Sequence[Seat]) -> list[Valuation | None]:
    """Each seat's value in order, in one query (None: the model cannot value it yet)."""
    return [None if v is None else valuation_of(v)
            for v in await seat_values(conn, event_id, seats)]


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
