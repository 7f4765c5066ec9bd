"""Buy-or-wait forecasts per event (``event_forecasts``): the engine writes, the API reads.

The engine's learned model lives in ``engine.deals.buy_or_wait``; the API may import storage
only, so the model's answers cross over through this table: latest row per event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from psycopg.rows import class_row

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


def _check(f: Forecast) -> tuple[object, ...]:
    if f.direction not in DIRECTIONS or f.advice not in ADVICE:
        raise ValueError(f"forecast for event {f.event_id}: direction {f.direction!r} / advice "
                         f"{f.advice!r} not in {DIRECTIONS} / {ADVICE}")
    return dataclasses.astuple(f)


def write_forecasts(conn: psycopg.Connection, forecasts: Sequence[Forecast]) -> int:
    """Upsert forecasts (keeps the newest per event; an older one never overwrites); runs in
    the caller's transaction. Returns how many rows were given."""
    rows = [_check(f) for f in forecasts]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(_UPSERT, rows)
    return len(rows)


def latest_forecast(conn: psycopg.Connection, event_id: int) -> Forecast | None:
    """The stored forecast of ``event_id``, or None."""
    with conn.cursor(row_factory=class_row(Forecast)) as cur:
        return cur.execute(_SELECT, (event_id,)).fetchone()


async def latest_forecast_async(conn: psycopg.AsyncConnection, event_id: int
                                ) -> Forecast | None:
    """``latest_forecast`` for the API's async pool."""
    async with conn.cursor(row_factory=class_row(Forecast)) as cur:
        await cur.execute(_SELECT, (event_id,))
        return await cur.fetchone()


def forecast_count(conn: psycopg.Connection) -> tuple[int, datetime | None]:
    """How many events have a forecast, and when the newest was computed."""
    row = conn.execute("SELECT count(*), max(computed_at) FROM event_forecasts").fetchone()
    return (int(row[0]), row[1]) if row else (0, None)
