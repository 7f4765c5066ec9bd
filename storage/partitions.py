"""Time partitions and retention, for both layouts (TimescaleDB hypertables or native ranges).

The layout is chosen once at migrate time and recorded in ``ripcity_meta``; callers use the
same functions either way, and on TimescaleDB ``ensure_partitions`` has nothing to do.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

TIMESERIES_TABLES: tuple[str, ...] = ("listing_snapshots", "event_price_stats", "analytics_events")


def timeseries_backend(conn: psycopg.Connection) -> str:
    """``"timescaledb"`` or ``"native"`` (``"unmigrated"`` before the first migrate)."""
    if not conn.execute("SELECT to_regclass('ripcity_meta') IS NOT NULL").fetchone()[0]:
        return "unmigrated"
    row = conn.execute(
        "SELECT value FROM ripcity_meta WHERE key = 'timeseries_backend'"
    ).fetchone()
    return row[0] if row else "unmigrated"


def ensure_partitions(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    """Create the native partitions covering ``[start, end]``; returns how many were new.

    Idempotent and safe from concurrent writers (an advisory lock per parent table). Runs in
    the caller's transaction. On TimescaleDB chunks appear by themselves, so this returns 0.
    """
    row = conn.execute(
        "SELECT CASE WHEN to_regclass('ripcity_partitioned') IS NULL THEN 0 "
        "ELSE ripcity_ensure_partitions(%s, %s) END",
        (start, end),
    ).fetchone()
    created = int(row[0]) if row else 0
    if created:
        logger.info("created %(n)d partitions for %(start)s .. %(end)s",
                    {"n": created, "start": start, "end": end})
    return created


def ensure_partitions_ahead(conn: psycopg.Connection, days_ahead: int = 7,
                            now: datetime | None = None) -> int:
    """``ensure_partitions`` from yesterday to ``days_ahead`` days out (what the engine's
    maintenance loop keeps ready); returns how many were new."""
    now = now or datetime.now(UTC)
    return ensure_partitions(conn, now - timedelta(days=1), now + timedelta(days=days_ahead))


def apply_retention(conn: psycopg.Connection, days: int) -> dict[str, int]:
    """Drop snapshot and stats data older than ``days`` (whole partitions / chunks) and old
    quarantine rows; returns counts by kind. On TimescaleDB the retention policies are also
    set to ``days`` so the scheduler keeps doing it where background jobs run.
    """
    if days < 1:
        raise ValueError(f"retention days must be at least 1, got {days}")
    cutoff = datetime.now(UTC) - timedelta(days=days)
    result: dict[str, int] = {}
    if timeseries_backend(conn) == "timescaledb":
        dropped = 0
        for table in TIMESERIES_TABLES:
            conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (table,))
            conn.execute(
                "SELECT add_retention_policy(%s, %s::interval)", (table, timedelta(days=days))
            )
            rows = conn.execute(
                "SELECT drop_chunks(%s, older_than => %s::timestamptz)", (table, cutoff)
            ).fetchall()
            dropped += len(rows)
        result["chunks_dropped"] = dropped
    else:
        row = conn.execute("SELECT ripcity_drop_partitions_before(%s)", (cutoff,)).fetchone()
        result["partitions_dropped"] = int(row[0]) if row else 0
    cur = conn.execute("DELETE FROM quarantine WHERE observed_at < %s", (cutoff,))
    result["quarantine_deleted"] = cur.rowcount
    return result
