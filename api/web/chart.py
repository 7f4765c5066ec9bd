"""The event page's price chart: get-in price per marketplace over a chosen range.

Uses the storage layer's carry-forward history (``storage.history.price_history_async``): a
listing counts in every bucket it was alive, at its latest price, so each point is the true
cheapest ticket of that moment (snapshots are written only on change, so bucketing raw
snapshots would show the cheapest *changed* listing instead).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from api.web.fmt import color, market
from storage.history import PricePoint, price_history_async

if TYPE_CHECKING:
    from psycopg import AsyncConnection

#: range name -> (how far back, bucket width)
RANGES: dict[str, tuple[timedelta, timedelta]] = {
    "24h": (timedelta(days=1), timedelta(minutes=30)),
    "7d": (timedelta(days=7), timedelta(hours=3)),
    "30d": (timedelta(days=30), timedelta(hours=12)),
    "all": (timedelta(days=400), timedelta(days=1)),
}


@dataclasses.dataclass(slots=True)
class Chart:
    """uPlot-ready columns: ``x`` (epoch seconds) and one series of dollars per line."""

    x: list[int]
    series: list[dict[str, Any]]
    #: (time, cheapest across the lines) for the forecast, oldest first
    get_in: list[tuple[datetime, int]]

    @property
    def points(self) -> int:
        return sum(1 for s in self.series for v in s["values"] if v is not None)

    def as_json(self) -> dict[str, Any]:
        return {"x": self.x, "series": self.series}


def build(points: list[PricePoint], section: str | None) -> Chart:
    """Align the points on one time axis, a series per marketplace (or the section)."""
    if section:
        points = [p for p in points if (p.section or "").upper() == section.upper()]
    keys = sorted({p.marketplace or "all" for p in points})
    xs = sorted({int(p.bucket.timestamp()) for p in points})
    index = {x: i for i, x in enumerate(xs)}
    cols: dict[str, list[float | None]] = {k: [None] * len(xs) for k in keys}
    low: dict[int, int] = {}
    for p in points:
        x = int(p.bucket.timestamp())
        cols[p.marketplace or "all"][index[x]] = p.min_cents / 100
        low[x] = min(low.get(x, p.min_cents), p.min_cents)
    series = [{"key": k, "label": (market(k) if k != "all"
                                   else f"Section {section} (all marketplaces)"),
               "color": color(k) if k != "all" else "#6d28d9", "values": cols[k]}
              for k in keys]
    get_in = [(datetime.fromtimestamp(x, UTC), low[x]) for x in xs]
    return Chart(x=xs, series=series, get_in=get_in)


async def event_chart(conn: AsyncConnection[Any], event_id: int, rng: str,
                      section: str | None) -> Chart:
    """The chart of ``rng`` (a key of ``RANGES``) up to now, per marketplace or of a section."""
    back, width = RANGES[rng]
    now = datetime.now(UTC)
    points = await price_history_async(conn, event_id, now - back, now + width, bucket=width,
                                       by="section" if section else "marketplace")
    return build(points, section)
