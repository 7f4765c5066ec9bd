"""What ``GET /api/v1/recommendations`` answers."""

from __future__ import annotations

from datetime import datetime

import msgspec


class Recommendation(msgspec.Struct):
    event_id: int
    name: str
    starts_at: datetime | None
    venue: str | None
    city: str | None
    category: str | None
    #: the cheapest all-in ticket now, cents
    get_in_cents: int | None
    best_deal_score: float | None
    #: one line: why this event ("because you follow Portland Trail Blazers")
    reason: str
    url: str


class RecommendationPage(msgspec.Struct):
    items: list[Recommendation]
    #: False: you have no history yet, these are the popular events of ``city``
    personalized: bool
    city: str | None
