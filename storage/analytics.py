"""First-party product analytics: what the API records (one row per search, event viewed,
buy link followed, alert email opened or followed, saved search or rule created) and what
the operations page charts from it.

A time series in ``analytics_events``, partitioned and retained like the snapshots
(:mod:`storage.partitions`). Only the user id is kept; the API does not record requests
that ask not to be tracked. Recording is best effort: a missing partition is created once
and the write retried; analytics never fails the request it describes.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import psycopg

from storage.db import record_row

if TYPE_CHECKING:
    from psycopg import AsyncConnection

logger = logging.getLogger(__name__)

Kind = Literal["search", "event_view", "buy_click", "alert_open", "alert_click",
               "saved_search_created", "rule_created", "recommendation_click"]
KINDS: tuple[str, ...] = ("search", "event_view", "buy_click", "alert_open", "alert_click",
                          "saved_search_created", "rule_created", "recommendation_click")

_INSERT = """INSERT INTO analytics_events (kind, user_id, event_id, q, results, ref)
VALUES (%s, %s, %s, %s, %s, %s)"""
_ENSURE = "SELECT ripcity_ensure_partitions(now() - interval '1 day', now() + interval '7 days')"

_NO_RESULTS = """
SELECT lower(btrim(q)) AS q, count(*) AS searches, max(at) AS last_at
FROM analytics_events
WHERE kind = 'search' AND at >= %(since)s AND results = 0 AND q IS NOT NULL
GROUP BY 1 ORDER BY 2 DESC, 3 DESC LIMIT %(limit)s
"""
_SEARCH_DAYS = """
SELECT d::date AS day,
       count(a.*) FILTER (WHERE a.results > 0) AS found,
       count(a.*) FILTER (WHERE a.results = 0) AS empty
FROM generate_series(%(since)s::date, now()::date, interval '1 day') d
LEFT JOIN analytics_events a ON a.kind = 'search' AND a.at >= d AND a.at < d + interval '1 day'
GROUP BY 1 ORDER BY 1
"""
_TOP_EVENTS = """
SELECT a.event_id, coalesce(e.name, 'event ' || a.event_id) AS name,
       count(*) FILTER (WHERE a.kind = 'event_view') AS views,
       count(*) FILTER (WHERE a.kind = 'buy_click') AS buy_clicks
FROM analytics_events a LEFT JOIN events e ON e.id = a.event_id
WHERE a.kind IN ('event_view', 'buy_click') AND a.at >= %(since)s AND a.event_id IS NOT NULL
GROUP BY 1, 2 ORDER BY 3 DESC, 4 DESC, 1 LIMIT %(limit)s
"""
_FUNNEL = """
SELECT (SELECT count(*) FROM alert_outbox WHERE status = 'sent' AND merged_into IS NULL
          AND sent_at >= %(since)s) AS sent,
       (SELECT count(DISTINCT ref) FROM analytics_events
        WHERE kind = 'alert_open' AND at >= %(since)s) AS opened,
       (SELECT count(DISTINCT ref) FROM analytics_events
        WHERE kind = 'alert_click' AND at >= %(since)s) AS followed
"""
_ACTIVE = """
SELECT d::date AS day, count(DISTINCT a.user_id) AS users
FROM generate_series(%(since)s::date, now()::date, interval '1 day') d
LEFT JOIN analytics_events a ON a.at >= d AND a.at < d + interval '1 day'
     AND a.user_id IS NOT NULL
GROUP BY 1 ORDER BY 1
"""
_CREATED = """
SELECT kind, count(*) FROM analytics_events
WHERE kind IN ('saved_search_created', 'rule_created') AND at >= %(since)s GROUP BY 1
"""


@dataclasses.dataclass(frozen=True, slots=True)
class EmptySearch:
    """Words people searched for that found nothing."""

    q: str
    searches: int
    last_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class SearchDay:
    day: date
    found: int
    empty: int


@dataclasses.dataclass(frozen=True, slots=True)
class TopEvent:
    event_id: int
    name: str
    views: int
    buy_clicks: int


@dataclasses.dataclass(frozen=True, slots=True)
class Funnel:
    """Alert messages sent, opened (tracking pixel) and followed (tracked link)."""

    sent: int
    opened: int
    followed: int


@dataclasses.dataclass(frozen=True, slots=True)
class ActiveDay:
    day: date
    users: int


@dataclasses.dataclass(slots=True)
class ProductReport:
    """What the operations page charts, over the last ``days`` days."""

    days: int
    empty_searches: list[EmptySearch]
    search_days: list[SearchDay]
    top_events: list[TopEvent]
    funnel: Funnel
    active_days: list[ActiveDay]
    created: dict[str, int]


async def record_event(conn: AsyncConnection[Any], kind: str, *, user_id: int | None = None,
                       event_id: int | None = None, q: str | None = None,
                       results: int | None = None, ref: str | None = None) -> bool:
    """Store one product event (autocommit connection); False if it could not be stored
    (logged, never raised)."""
    args = (kind, user_id, event_id, q[:200] if q else None, results,
            ref[:200] if ref else None)
    for attempt in (1, 2):
        try:
            await conn.execute(_INSERT, args)
            return True
        except psycopg.errors.CheckViolation as err:  # no partition for now (yet)
            if attempt == 2 or "partition" not in str(err):
                logger.warning("analytics: %(kind)s not stored: %(err)s",
                               {"kind": kind, "err": err})
                return False
            await conn.execute(_ENSURE)
        except psycopg.Error as err:
            logger.warning("analytics: %(kind)s not stored: %(err)s", {"kind": kind, "err": err})
            return False
    return False


@dataclasses.dataclass(frozen=True, slots=True)
class ProductEvent:
    """One product event to store (what :func:`record_events` writes in a batch)."""

    kind: str
    user_id: int | None = None
    event_id: int | None = None
    q: str | None = None
    results: int | None = None
    ref: str | None = None


async def record_events(conn: AsyncConnection[Any], events: list[ProductEvent]) -> int:
    """Store a batch of product events in one transaction (autocommit connection): how
    many were stored (0 if they could not be: logged, never raised)."""
    if not events:
        return 0
    args = [(e.kind, e.user_id, e.event_id, e.q[:200] if e.q else None, e.results,
             e.ref[:200] if e.ref else None) for e in events]
    for attempt in (1, 2):
        try:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(_INSERT, args)
            return len(args)
        except psycopg.errors.CheckViolation as err:  # no partition for now (yet)
            if attempt == 2 or "partition" not in str(err):
                logger.warning("analytics: %(n)d events not stored: %(err)s",
                               {"n": len(args), "err": err})
                return 0
            await conn.execute(_ENSURE)
        except psycopg.Error as err:
            logger.warning("analytics: %(n)d events not stored: %(err)s",
                           {"n": len(args), "err": err})
            return 0
    return 0


async def product_report(conn: AsyncConnection[Any], days: int = 14,
                         limit: int = 10) -> ProductReport:
    """Searches found / not found per day, the top empty searches, the most viewed events,
    the alert funnel, active users per day, saved searches and rules created."""
    params = {"since": datetime.now(UTC) - timedelta(days=days - 1), "limit": limit}

    async def rows(query: str, cls: type) -> list[Any]:
        async with conn.cursor(row_factory=record_row(cls)) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()

    funnel = (await rows(_FUNNEL, Funnel))[0]
    created = dict(await (await conn.execute(_CREATED, params)).fetchall())
    return ProductReport(
        days=days, empty_searches=await rows(_NO_RESULTS, EmptySearch),
        search_days=await rows(_SEARCH_DAYS, SearchDay),
        top_events=await rows(_TOP_EVENTS, TopEvent), funnel=funnel,
        active_days=await rows(_ACTIVE, ActiveDay),
        created={k: int(created.get(k, 0)) for k in ("saved_search_created",
                                                      "rule_created")})


_ALERT_USER = "SELECT user_id FROM alert_outbox WHERE idempotency_key = %s LIMIT 1"


async def alert_recipient(conn: AsyncConnection[Any], key: str) -> int | None:
    """Who the alert message ``key`` (its idempotency key) was sent to, if it exists."""
    row = await (await conn.execute(_ALERT_USER, (key,))).fetchone()
    return int(row[0]) if row else None
