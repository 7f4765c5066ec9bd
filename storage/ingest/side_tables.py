"""The side tables a crawl writes besides listings: marketplace price stats and the parser's
rejects (kept in ``quarantine`` for inspection)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from storage.ingest import _sql
from storage.partitions import ensure_partitions

if TYPE_CHECKING:
    from collections.abc import Sequence

    import psycopg

    from storage.records import PriceStats, Reject


def write_price_stats(conn: psycopg.Connection, stats: Sequence[PriceStats]) -> int:
    """Store marketplace price stats (idempotent per event, marketplace and time); stats of an
    unknown event are quarantined. Returns rows written.
    """
    if not stats:
        return 0
    written = 0
    with conn.transaction(), conn.cursor() as cur:
        times = [s.observed_at for s in stats]
        ensure_partitions(conn, min(times), max(times))
        for s in stats:
            cur.execute(_sql.STATS, s.to_dict())
            if cur.rowcount:
                written += 1
            else:
                cur.execute(_sql.REJECT, {
                    "observed_at": s.observed_at, "marketplace": s.marketplace,
                    "source": "price_stats", "reason": "unknown event",
                    "raw": json.dumps(s.to_dict(), default=str),
                })
    return written


def write_rejects(conn: psycopg.Connection, rejects: Sequence[Reject]) -> int:
    """Keep parser rejects in ``quarantine`` (reason, raw fragment, source URL); a reject
    already kept (a re-run shard's: same observation time) is not kept again. Returns the
    rows inserted."""
    if not rejects:
        return 0
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(_sql.REJECT, [r.to_dict() for r in rejects])
        return max(0, cur.rowcount)
