"""What an event search can ask for, and the SQL conditions it becomes (no I/O).

Event search and the best-deals read both narrow events the same way, so the filter and its
conditions live here once; each read adds its own joins and sort.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any


@dataclasses.dataclass(slots=True)
class EventFilter:
    """Text, dates, place, marketplace and get-in price bounds of an event search."""

    q: str | None = None
    starts_after: datetime | None = None
    starts_before: datetime | None = None
    category: str | None = None
    city: str | None = None
    venue_id: int | None = None
    marketplace: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    #: events with a live listing of at least this many tickets together
    quantity: int | None = None
    #: events with a live listing scored at least this (0-100)
    min_deal_score: float | None = None
    #: without a ``starts_after``, events that started more than 6 hours ago are left out
    include_past: bool = False


def _like(text: str) -> str:
    """``text`` as an ``ILIKE`` pattern matching it anywhere, its wildcards escaped."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def event_conditions(f: EventFilter, params: dict[str, Any], alias: str = "e",
                     venue: str = "v") -> list[str]:
    """SQL conditions on events (and their venue) for a filter; fills ``params``.

    The marketplace condition binds ``%(mk)s``, which callers may reuse for their own tables.
    Price bounds are not conditions on events: each read applies them to its own prices.
    """
    where: list[str] = []
    if f.q:
        params["q"], params["q_like"] = f.q, _like(f.q)
        where.append(f"""({alias}.search @@ plainto_tsquery('simple', %(q)s)
            OR {alias}.name ILIKE %(q_like)s OR {venue}.name ILIKE %(q_like)s
            OR {venue}.city ILIKE %(q_like)s
            OR array_to_string({alias}.performers, ' ') ILIKE %(q_like)s)""")
    if f.starts_after:
        params["after"] = f.starts_after
        where.append(f"{alias}.starts_at >= %(after)s")
    elif not f.include_past:
        where.append(f"({alias}.starts_at IS NULL "
                     f"OR {alias}.starts_at >= now() - interval '6 hours')")
    if f.starts_before:
        params["before"] = f.starts_before
        where.append(f"{alias}.starts_at < %(before)s")
    if f.category:
        params["category"] = f.category
        where.append(f"lower({alias}.category) = lower(%(category)s)")
    if f.city:
        params["city"] = f.city
        where.append(f"lower({venue}.city) = lower(%(city)s)")
    if f.venue_id:
        params["venue_id"] = f.venue_id
        where.append(f"{alias}.venue_id = %(venue_id)s")
    if f.marketplace:
        params["mk"] = f.marketplace
        where.append(f"""EXISTS (SELECT 1 FROM event_sources es
            WHERE es.event_id = {alias}.id AND es.marketplace = %(mk)s)""")
    if f.quantity or f.min_deal_score is not None:
        params["min_qty"], params["min_score"] = f.quantity or 1, f.min_deal_score
        where.append(f"""EXISTS (SELECT 1 FROM listings_current lq
            WHERE lq.event_id = {alias}.id AND lq.gone_at IS NULL
              AND lq.quantity >= %(min_qty)s
              AND (%(min_score)s::real IS NULL OR lq.deal_score >= %(min_score)s::real))""")
    return where
