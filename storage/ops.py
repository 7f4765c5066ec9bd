"""Operations reads: crawl rates, quarantined errors, backlog, alert latency (the ops page)
and the migrations a database has applied (readiness)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

_CRAWL_RATES = """
SELECT c.marketplace, count(*) FILTER (WHERE c.gone_at IS NULL) AS live,
       greatest(max(c.last_seen), (SELECT max(s.complete_at) FROM source_event_crawls s
                                   WHERE s.marketplace = c.marketplace)) AS last_seen,
       (SELECT count(*) FROM listing_snapshots s WHERE s.marketplace = c.marketplace
          AND s.observed_at > now() - interval '1 hour') AS snapshots_1h,
       (SELECT count(*) FROM listing_snapshots s WHERE s.marketplace = c.marketplace
          AND s.observed_at > now() - interval '24 hours') AS snapshots_24h,
       (SELECT count(*) FROM quarantine q WHERE q.marketplace = c.marketplace
          AND q.observed_at > now() - interval '24 hours') AS errors_24h,
       (SELECT max(q.reason) FROM quarantine q WHERE q.marketplace = c.marketplace
          AND q.observed_at > now() - interval '24 hours') AS sample_error
FROM listings_current c GROUP BY c.marketplace ORDER BY c.marketplace
"""
_ERROR_REASONS = """
SELECT marketplace, reason, count(*) AS n, max(observed_at) AS last_at
FROM quarantine WHERE observed_at > now() - interval '24 hours'
GROUP BY 1, 2 ORDER BY n DESC LIMIT 30
"""
_BACKLOG = """
SELECT
  (SELECT count(*) FROM refresh_requests WHERE claimed_at IS NULL) AS refresh_pending,
  (SELECT count(*) FROM refresh_requests WHERE status = 'running') AS refresh_running,
  (SELECT extract(epoch FROM now() - min(requested_at))::float8 FROM refresh_requests
     WHERE claimed_at IS NULL) AS refresh_oldest_s,
  (SELECT count(*) FROM alert_outbox WHERE status IN ('pending', 'sending'))
     AS alerts_pending,
  (SELECT count(*) FROM alert_outbox WHERE status = 'failed'
     AND created_at > now() - interval '24 hours') AS alerts_failed_24h,
  (SELECT count(*) FILTER (WHERE score_pending) FROM post_commit_work) AS scoring_pending,
  (SELECT count(*) FILTER (WHERE match_pending) FROM post_commit_work) AS matching_pending,
  (SELECT count(*) FROM post_commit_work WHERE attempts >= 5) AS post_commit_failed
"""
#: what the database holds: the run summary's counts (``stored_counts``)
_STORED = """
SELECT (SELECT count(*) FROM listing_snapshots) AS written,
       (SELECT count(*) FROM listings_current WHERE gone_at IS NULL) AS live,
       (SELECT count(*) FROM listings_current WHERE gone_at IS NULL
          AND deal_score IS NOT NULL) AS scored,
       (SELECT count(*) FROM quarantine) AS quarantined,
       (SELECT count(*) FROM alert_matches) AS matched
"""
_ALERT_LATENCY = """
SELECT o.channel, count(*) AS sent,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY x.s) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY x.s) AS p95, max(x.s) AS max
FROM alert_outbox o
CROSS JOIN LATERAL (SELECT extract(epoch FROM o.sent_at - coalesce(
    (o.payload #>> '{matches,0,observed_at}')::timestamptz, o.created_at))::float8
    AS s) x
WHERE o.status = 'sent' AND o.sent_at > now() - interval '24 hours'
GROUP BY o.channel ORDER BY o.channel
"""
_T = TypeVar("_T")

_MIGRATION_CHECKSUMS = "SELECT version, checksum FROM schema_migrations ORDER BY version"


@dataclasses.dataclass(frozen=True, slots=True)
class CrawlRate:
    """One marketplace's crawl: live listings, snapshots stored, errors, last seen."""

    marketplace: str
    live: int
    last_seen: datetime | None
    snapshots_1h: int
    snapshots_24h: int
    errors_24h: int
    sample_error: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorReason:
    """Quarantined records of one marketplace and reason in the last 24 h."""

    marketplace: str
    reason: str
    n: int
    last_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Backlog:
    """Work waiting: refresh requests not yet done, alerts not yet sent."""

    refresh_pending: int
    refresh_running: int
    #: age of the oldest unclaimed refresh request, seconds (None: none waiting)
    refresh_oldest_s: float | None
    alerts_pending: int
    alerts_failed_24h: int
    #: committed batches whose deal scoring / alert matching is not done yet
    scoring_pending: int = 0
    matching_pending: int = 0
    #: of those, tried 5 times or more (still retried: see storage.post_commit)
    post_commit_failed: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class StoredCounts:
    """What the database holds: snapshots written, live and scored listings, quarantined
    records, alert matches (the run summary reports these, not actors' counters)."""

    written: int
    live: int
    scored: int
    quarantined: int
    matched: int


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelLatency:
    """Seconds from a price change being observed to its alert being sent, on one channel."""

    channel: str
    sent: int
    p50: float
    p95: float
    max: float


async def _all(conn: psycopg.AsyncConnection[Any], row: type[_T], query: str) -> list[_T]:
    async with conn.cursor(row_factory=record_row(row)) as cur:
        await cur.execute(query)
        return await cur.fetchall()


async def crawl_rates(conn: psycopg.AsyncConnection[Any]) -> list[CrawlRate]:
    """Per marketplace: snapshots stored in the last hour / 24 h, listings live, last seen."""
    return await _all(conn, CrawlRate, _CRAWL_RATES)


async def error_reasons(conn: psycopg.AsyncConnection[Any]) -> list[ErrorReason]:
    """Quarantined records of the last 24 h by marketplace and reason (30 most frequent)."""
    return await _all(conn, ErrorReason, _ERROR_REASONS)


async def backlog(conn: psycopg.AsyncConnection[Any]) -> Backlog:
    """Work waiting: refresh requests not yet done, alerts not yet sent."""
    return (await _all(conn, Backlog, _BACKLOG))[0]


async def alert_latency(conn: psycopg.AsyncConnection[Any]) -> list[ChannelLatency]:
    """Observed-to-sent latency per channel over the last 24 h (p50 / p95 / max)."""
    return await _all(conn, ChannelLatency, _ALERT_LATENCY)


def stored_counts(conn: psycopg.Connection[Any]) -> StoredCounts:
    """Counts of what is stored (a few full counts: for a run's summary, not a poll)."""
    with conn.cursor(row_factory=record_row(StoredCounts)) as cur:
        row = cur.execute(_STORED).fetchone()
    assert row is not None
    return row


async def migration_checksums(conn: psycopg.AsyncConnection[Any]) -> dict[int, str]:
    """``{version: checksum}`` of the applied migrations (raises if never migrated)."""
    cur = await conn.execute(_MIGRATION_CHECKSUMS)
    return {v: c for v, c in await cur.fetchall()}
