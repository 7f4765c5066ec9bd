"""Buy-or-wait forecasts per event (``event_forecasts``): the engine writes, the API reads.

The engine's learned model lives in ``engine.deals.buy_or_wait``; the API may import storage
only, so the model's answers cross over through this table: latest row per event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

DIRECTIONS = ("down", "up or flat")
ADVICE = ("wait", "buy now")


@dataclasses.dataclass(frozen=True, slots=True)
class Forecast:
    """The engine's latest forecast for one event."""

    event_id: int
    computed_at: datetime
    direction: str  # "down" | "up or flat"
    advice: str  # "wait" | "buy now"
    confidence: float  # probability of the advised outcome, 0.5..1
    expected_change_pct: float | None
    horizon_days: float
    get_in_cents: int | None
    model_version: str
    reason: str
    as_of: datetime | None = None  # the price series' time (default: computed_at)

    @property
    def probability_lower(self) -> float:
        """The model's probability that the get-in price will be lower at the horizon."""
        return self.confidence if self.direction == "down" else 1.0 - self.confidence


_COLS = ("event_id, computed_at, direction, advice, confidence, expected_change_pct, "
         "horizon_days, get_in_cents, model_version, reason")
_UPSERT = f"""
INSERT INTO event_forecasts ({_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (event_id) DO UPDATE SET
    computed_at = EXCLUDED.computed_at, direction = EXCLUDED.direction,
    advice = EXCLUDED.advice, confidence = EXCLUDED.confidence,
    expected_change_pct = EXCLUDED.expected_change_pct,
    horizon_days = EXCLUDED.horizon_days, get_in_cents = EXCLUDED.get_in_cents,
    model_version = EXCLUDED.model_version, reason = EXCLUDED.reason
WHERE event_forecasts.computed_at <= EXCLUDED.computed_at
"""
_SELECT = f"SELECT {_COLS} FROM event_forecasts WHERE event_id = %s"


_HISTORY = """
INSERT INTO forecast_history (event_id, computed_at, as_of, due_at, horizon_days, advice,
                              probability_lower, get_in_cents, days_to_event, model_version)
SELECT %(event_id)s, %(computed_at)s, %(as_of)s,
       %(as_of)s + make_interval(secs => %(horizon_days)s * 86400), %(horizon_days)s,
       %(advice)s, %(p)s, %(get_in_cents)s,
       extract(epoch FROM e.starts_at - %(as_of)s) / 86400, %(model_version)s
FROM events e WHERE e.id = %(event_id)s AND %(get_in_cents)s::bigint IS NOT NULL
ON CONFLICT (event_id, as_of, model_version) DO NOTHING
"""


def _check(f: Forecast) -> tuple[object, ...]:
    if f.direction not in DIRECTIONS or f.advice not in ADVICE:
        raise ValueError(f"forecast for event {f.event_id}: direction {f.direction!r} / advice "
                         f"{f.advice!r} not in {DIRECTIONS} / {ADVICE}")
    return dataclasses.astuple(f)[:10]


def _history(f: Forecast) -> dict[str, object]:
    return {"event_id": f.event_id, "computed_at": f.computed_at,
            "as_of": f.as_of or f.computed_at, "horizon_days": f.horizon_days,
            "advice": f.advice, "p": f.probability_lower, "get_in_cents": f.get_in_cents,
            "model_version": f.model_version}


def write_forecasts(conn: psycopg.Connection, forecasts: Sequence[Forecast]) -> int:
    """Upsert forecasts (keeps the newest per event; an older one never overwrites) and add
    each to the graded history (``storage.track_record``); runs in the caller's
    transaction. Returns how many rows were given."""
    rows = [_check(f) for f in forecasts]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(_UPSERT, rows)
            cur.executemany(_HISTORY, [_history(f) for f in forecasts])
    return len(rows)


def latest_forecast(conn: psycopg.Connection, event_id: int) -> Forecast | None:
    """The stored forecast of ``event_id``, or None."""
    with conn.cursor(row_factory=record_row(Forecast)) as cur:
        return cur.execute(_SELECT, (event_id,)).fetchone()


async def latest_forecast_async(conn: psycopg.AsyncConnection, event_id: int
                                ) -> Forecast | None:
    """``latest_forecast`` for the API's async pool."""
    async with conn.cursor(row_factory=record_row(Forecast)) as cur:
        await cur.execute(_SELECT, (event_id,))
        return await cur.fetchone()


def forecast_count(conn: psycopg.Connection) -> tuple[int, datetime | None]:
    """How many events have a forecast, and when the newest was computed."""
    row = conn.execute("SELECT count(*), max(computed_at) FROM event_forecasts").fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


@dataclasses.dataclass(frozen=True, slots=True)
class ForecastDetail:
    """The latest forecast with what the API shows beside it: the probability that the
    get-in price will be lower and the days to the event when it was made."""

    forecast: Forecast
    probability_lower: float
    days_to_event: float | None


_DETAIL = f"""
SELECT {', '.join('f.' + c.strip() for c in _COLS.split(','))},
       h.days_to_event
FROM event_forecasts f LEFT JOIN LATERAL (
    SELECT days_to_event FROM forecast_history h
    WHERE h.event_id = f.event_id AND h.model_version = f.model_version
    ORDER BY h.as_of DESC LIMIT 1) h ON true
WHERE f.event_id = %s
"""


async def forecast_detail_async(conn: psycopg.AsyncConnection, event_id: int
                                ) -> ForecastDetail | None:
    """The stored forecast of ``event_id`` with its probability and days to the event."""
    async with conn.cursor() as cur:
        await cur.execute(_DETAIL, (event_id,))
        row = await cur.fetchone()
    if row is None:
        return None
    f = Forecast(*row[:10])
    return ForecastDetail(f, f.probability_lower, row[10])
