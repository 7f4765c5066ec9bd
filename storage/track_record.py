"""The public track record of buy-or-wait forecasts (``forecast_history``): grading each
forecast once its horizon has passed, and accuracy, Brier score and calibration against the
naive answers, overall and by days-to-event bucket.

A forecast is graded against the get-in price (cheapest all-in ticket across marketplaces)
of the last hourly rollup bucket at or before its due time and after it was made; "wait"
was right when that price was lower than the forecast's starting get-in price.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

#: days-to-event buckets of the track record: (label, lower bound, upper bound) in days
DAY_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("0-3 days", 0.0, 3.0), ("3-7 days", 3.0, 7.0), ("7-14 days", 7.0, 14.0),
    ("14-30 days", 14.0, 30.0), ("30+ days", 30.0, 1e9),
)

_GRADE = """
UPDATE forecast_history f SET graded_at = %(now)s, later_get_in_cents = g.low,
       was_lower = g.low < f.get_in_cents
FROM (
    SELECT h.id, (
        SELECT min(r.min_total_cents) FROM listing_rollups_hourly r
        WHERE r.event_id = h.event_id AND r.bucket = (
            SELECT max(r2.bucket) FROM listing_rollups_hourly r2
            WHERE r2.event_id = h.event_id AND r2.bucket <= h.due_at
              AND r2.bucket > h.as_of)
    ) AS low
    FROM forecast_history h
    WHERE h.graded_at IS NULL AND h.due_at <= %(now)s
) g
WHERE f.id = g.id AND g.low IS NOT NULL
"""

_BUCKET = """CASE {cases} END"""

_STATS = """
WITH graded AS (
    SELECT *, ({bucket}) AS bucket FROM forecast_history
    WHERE graded_at IS NOT NULL AND as_of >= %(since)s
)
SELECT CASE WHEN GROUPING(bucket) = 1 THEN 'all' ELSE coalesce(bucket, 'date unknown') END
           AS bucket, count(*)::int AS forecasts,
       avg(((advice = 'wait') = was_lower)::int)::float8 AS accuracy,
       avg(power(probability_lower - was_lower::int, 2))::float8 AS brier,
       avg(was_lower::int)::float8 AS always_wait_accuracy,
       avg((NOT was_lower)::int)::float8 AS always_buy_accuracy,
       avg(power(1 - was_lower::int, 2))::float8 AS always_wait_brier,
       avg(CASE WHEN advice = 'wait'
                THEN (get_in_cents - later_get_in_cents)::float8 / get_in_cents
                ELSE 0 END)::float8 * 100 AS saving_pct,
       avg((get_in_cents - later_get_in_cents)::float8 / get_in_cents)::float8 * 100
           AS always_wait_saving_pct
FROM graded GROUP BY ROLLUP (bucket)
"""
_CALIBRATION = """
SELECT least(floor(probability_lower * 10)::int, 9) AS bin, count(*)::int AS forecasts,
       avg(probability_lower)::float8 AS predicted, avg(was_lower::int)::float8 AS observed
FROM forecast_history WHERE graded_at IS NOT NULL AND as_of >= %(since)s
GROUP BY 1 ORDER BY 1
"""
_PENDING = "SELECT count(*)::int FROM forecast_history WHERE graded_at IS NULL"
_ROLLING = """
SELECT date_trunc('day', due_at) AS day, count(*)::int AS forecasts,
       avg(((advice = 'wait') = was_lower)::int)::float8 AS accuracy,
       avg(was_lower::int)::float8 AS always_wait_accuracy
FROM forecast_history WHERE graded_at IS NOT NULL AND as_of >= %(since)s
GROUP BY 1 ORDER BY 1
"""


@dataclasses.dataclass(frozen=True, slots=True)
class BucketStats:
    bucket: str  # a DAY_BUCKETS label, or "all"
    forecasts: int
    accuracy: float
    brier: float
    always_wait_accuracy: float
    always_buy_accuracy: float
    always_wait_brier: float
    saving_pct: float
    always_wait_saving_pct: float


@dataclasses.dataclass(frozen=True, slots=True)
class CalibrationBin:
    bin: int  # probability_lower in [bin/10, (bin+1)/10)
    forecasts: int
    predicted: float
    observed: float


@dataclasses.dataclass(frozen=True, slots=True)
class DayStats:
    day: datetime
    forecasts: int
    accuracy: float
    always_wait_accuracy: float


@dataclasses.dataclass(frozen=True, slots=True)
class TrackRecord:
    buckets: list[BucketStats]  # "all" first, then DAY_BUCKETS order (empty ones absent)
    calibration: list[CalibrationBin]
    daily: list[DayStats]
    pending: int  # forecasts whose horizon has not passed yet


def _bucket_sql() -> str:
    cases = " ".join(f"WHEN days_to_event < {hi} THEN '{label}'" for label, _, hi in DAY_BUCKETS)
    return _BUCKET.format(cases=cases)


def grade_forecasts(conn: psycopg.Connection, now: datetime) -> int:
    """Grade every forecast due by ``now`` (series clock) that has a price to compare;
    the caller's transaction. Returns how many were graded."""
    with conn.cursor() as cur:
        cur.execute(_GRADE, {"now": now})
        return cur.rowcount


async def track_record(conn: psycopg.AsyncConnection[Any], since: datetime) -> TrackRecord:
    """Accuracy, Brier score, saving and the naive answers' figures of the forecasts made
    since ``since``, overall and per days-to-event bucket; the calibration table; per day."""
    order = {label: i for i, (label, _, _) in enumerate(DAY_BUCKETS)}
    async with conn.cursor(row_factory=record_row(BucketStats)) as cur:
        await cur.execute(_STATS.format(bucket=_bucket_sql()), {"since": since})
        buckets = sorted(await cur.fetchall(), key=lambda b: order.get(b.bucket, -1))
    async with conn.cursor(row_factory=record_row(CalibrationBin)) as cur:
        await cur.execute(_CALIBRATION, {"since": since})
        calibration = await cur.fetchall()
    async with conn.cursor(row_factory=record_row(DayStats)) as cur:
        await cur.execute(_ROLLING, {"since": since})
        daily = await cur.fetchall()
    async with conn.cursor() as cur:
        await cur.execute(_PENDING)
        row = await cur.fetchone()
    return TrackRecord([b for b in buckets if b.forecasts], calibration, daily,
                       int(row[0]) if row else 0)
