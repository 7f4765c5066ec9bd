"""Recommendations' data: what the model learns from (every user's signals, the upcoming
events), the picks the engine writes per user, and what the API reads (the user's picks,
else the popular events of a city).

Signals: watchlist entries and alert rules (an event, a performer, a venue), saved searches
(their venue, category or words), and from the product analytics: events opened, buy links
followed, recommendations followed. There is no purchase table; purchases join here when
one exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.db import record_row

if TYPE_CHECKING:
    import psycopg
    from psycopg import AsyncConnection


@dataclasses.dataclass(frozen=True, slots=True)
class SignalRow:
    """One thing a user did: with an event, or following a feature
    (``performer:<name>``, ``venue:<name>``, ``category:<name>``, ``city:<name>``)."""

    user_id: int
    kind: str  # view | click | watch | rule | saved | follow
    event_id: int | None
    feature: str | None
    weight: float


@dataclasses.dataclass(frozen=True, slots=True)
class CatalogRow:
    """An upcoming event that can be recommended, and how popular it is lately."""

    event_id: int
    performers: list[str]
    venue: str | None
    category: str | None
    city: str | None
    get_in_cents: int | None
    best_deal_score: float | None
    popularity: float


@dataclasses.dataclass(frozen=True, slots=True)
class PickRow:
    """A recommended event with its reason, as the API shows it."""

    event_id: int
    name: str
    starts_at: datetime | None
    venue_name: str | None
    venue_city: str | None
    category: str | None
    get_in_cents: int | None
    best_deal_score: float | None
    score: float
    reason: str


_SIGNALS = """
WITH recent AS (SELECT * FROM analytics_events WHERE at >= now() - make_interval(days => %(days)s)
                AND user_id IS NOT NULL)
SELECT user_id, kind, event_id, NULL::text AS feature, count(*)::float8 AS weight
FROM (SELECT user_id, CASE kind WHEN 'event_view' THEN 'view' ELSE 'click' END AS kind,
             event_id FROM recent
      WHERE kind IN ('event_view', 'buy_click', 'alert_click', 'recommendation_click')
        AND event_id IS NOT NULL) a
GROUP BY 1, 2, 3
UNION ALL
SELECT user_id, 'watch', event_id, NULL, 1 FROM watchlists WHERE event_id IS NOT NULL
UNION ALL
SELECT user_id, 'follow', NULL, 'performer:' || lower(performer), 1 FROM watchlists
WHERE performer IS NOT NULL
UNION ALL
SELECT w.user_id, 'follow', NULL, 'venue:' || lower(v.name), 1
FROM watchlists w JOIN venues v ON v.id = w.venue_id
UNION ALL
SELECT user_id, 'rule', event_id, NULL, 1 FROM alert_rules WHERE active AND event_id IS NOT NULL
UNION ALL
SELECT user_id, 'follow', NULL, 'performer:' || lower(performer), 1 FROM alert_rules
WHERE active AND performer IS NOT NULL
UNION ALL
SELECT r.user_id, 'follow', NULL, 'venue:' || lower(v.name), 1
FROM alert_rules r JOIN venues v ON v.id = r.venue_id WHERE r.active
UNION ALL
SELECT s.user_id, 'saved', NULL, f.feature, 1 FROM saved_searches s
CROSS JOIN LATERAL (
    SELECT 'venue:' || lower(v.name) FROM venues v WHERE v.id = s.venue_id
    UNION ALL SELECT 'category:' || lower(s.category) WHERE s.category IS NOT NULL
    UNION ALL SELECT 'city:' || lower(s.city) WHERE s.city IS NOT NULL
    UNION ALL SELECT DISTINCT 'performer:' || lower(p.name)
    FROM events e CROSS JOIN LATERAL unnest(e.performers) p(name)
    WHERE s.q IS NOT NULL AND p.name ILIKE ripcity_like_pattern(s.q)
) f(feature)
"""

_CATALOG = """
SELECT e.id AS event_id, e.performers, v.name AS venue, e.category, v.city,
       s.get_in_cents, d.best AS best_deal_score,
       (SELECT count(DISTINCT a.user_id) FROM analytics_events a
        WHERE a.event_id = e.id AND a.at >= now() - make_interval(days => %(days)s))
       + (SELECT count(*) FROM watchlists w WHERE w.event_id = e.id) AS popularity
FROM events e
LEFT JOIN venues v ON v.id = e.venue_id
LEFT JOIN LATERAL (SELECT min(total_cents) AS get_in_cents FROM listings_current lc
                   WHERE lc.event_id = e.id AND lc.gone_at IS NULL) s ON true
LEFT JOIN LATERAL (SELECT max(deal_score)::float8 AS best FROM listings_current lc
                   WHERE lc.event_id = e.id AND lc.gone_at IS NULL) d ON true
WHERE e.status <> 'cancelled' AND (e.starts_at IS NULL OR e.starts_at >= now())
ORDER BY e.id
"""

_CLEAR = "DELETE FROM recommendations WHERE user_id = ANY(%s)"
_COPY = "COPY recommendations (user_id, event_id, rank, score, reason) FROM STDIN"
_USERS = "SELECT id FROM users ORDER BY id"

_PICKS = """
SELECT r.event_id, e.name, e.starts_at, v.name AS venue_name, v.city AS venue_city,
       e.category, s.get_in_cents, s.best AS best_deal_score, r.score::float8 AS score,
       r.reason
FROM recommendations r JOIN events e ON e.id = r.event_id
LEFT JOIN venues v ON v.id = e.venue_id
LEFT JOIN LATERAL (SELECT min(total_cents) AS get_in_cents,
                          max(deal_score)::float8 AS best FROM listings_current lc
                   WHERE lc.event_id = e.id AND lc.gone_at IS NULL) s ON true
WHERE r.user_id = %(user)s AND (e.starts_at IS NULL OR e.starts_at >= now())
ORDER BY r.rank LIMIT %(limit)s
"""

# Cold start: the most touched and watched upcoming events with tickets, in the city
# asked for (else everywhere), then by how soon they start.
_POPULAR = """
SELECT e.id AS event_id, e.name, e.starts_at, v.name AS venue_name, v.city AS venue_city,
       e.category, s.get_in_cents, s.best AS best_deal_score,
       (p.people + 1)::float8 AS score,
       CASE WHEN %(city)s::text IS NOT NULL THEN 'popular in ' || v.city
            ELSE 'popular right now' END AS reason
FROM events e
LEFT JOIN venues v ON v.id = e.venue_id
JOIN LATERAL (SELECT min(total_cents) AS get_in_cents, max(deal_score)::float8 AS best
              FROM listings_current lc
              WHERE lc.event_id = e.id AND lc.gone_at IS NULL) s ON s.get_in_cents IS NOT NULL
CROSS JOIN LATERAL (
    SELECT (SELECT count(DISTINCT a.user_id) FROM analytics_events a
            WHERE a.event_id = e.id AND a.at >= now() - interval '30 days')
         + (SELECT count(*) FROM watchlists w WHERE w.event_id = e.id) AS people) p
WHERE e.status <> 'cancelled' AND (e.starts_at IS NULL OR e.starts_at >= now())
  AND (%(city)s::text IS NULL OR lower(v.city) = lower(%(city)s))
ORDER BY p.people DESC, e.starts_at NULLS LAST, e.id
LIMIT %(limit)s
"""

_HOME_CITY = """
SELECT v.city FROM events e JOIN venues v ON v.id = e.venue_id
WHERE v.city IS NOT NULL AND (e.starts_at IS NULL OR e.starts_at >= now())
  AND (%(user)s::bigint IS NULL OR e.id IN (
      SELECT event_id FROM analytics_events WHERE user_id = %(user)s AND event_id IS NOT NULL
      UNION SELECT event_id FROM watchlists WHERE user_id = %(user)s))
GROUP BY 1 ORDER BY count(*) DESC LIMIT 1
"""


def signals(conn: psycopg.Connection[Any], days: int = 90) -> list[SignalRow]:
    """Every user's signals of the last ``days`` days (watchlists, rules and saved searches
    as they stand)."""
    with conn.cursor(row_factory=record_row(SignalRow)) as cur:
        return cur.execute(_SIGNALS, {"days": days}).fetchall()


def catalog(conn: psycopg.Connection[Any], days: int = 30) -> list[CatalogRow]:
    """The upcoming, not cancelled events with their popularity over ``days`` days."""
    with conn.cursor(row_factory=record_row(CatalogRow)) as cur:
        return cur.execute(_CATALOG, {"days": days}).fetchall()


def user_ids(conn: psycopg.Connection[Any]) -> list[int]:
    return [int(r[0]) for r in conn.execute(_USERS).fetchall()]


def write_picks(conn: psycopg.Connection[Any],
                picks: dict[int, Sequence[tuple[int, float, str]]]) -> int:
    """Replace the picks of the users in ``picks`` (user -> [(event, score, reason)], best
    first) in one transaction; returns the rows written."""
    rows: list[tuple[Any, ...]] = [(u, e, rank, s, reason) for u, ps in picks.items()
                                   for rank, (e, s, reason) in enumerate(ps, 1)]
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_CLEAR, (list(picks),))
        with cur.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)
    return len(rows)


async def picks_for(conn: AsyncConnection[Any], user_id: int, limit: int) -> list[PickRow]:
    """The user's current picks (events that have not started), best first."""
    async with conn.cursor(row_factory=record_row(PickRow)) as cur:
        await cur.execute(_PICKS, {"user": user_id, "limit": limit})
        return await cur.fetchall()


async def popular(conn: AsyncConnection[Any], city: str | None, limit: int) -> list[PickRow]:
    """The cold-start picks: the most followed upcoming events with tickets in ``city``."""
    async with conn.cursor(row_factory=record_row(PickRow)) as cur:
        await cur.execute(_POPULAR, {"city": city, "limit": limit})
        return await cur.fetchall()


async def home_city(conn: AsyncConnection[Any], user_id: int | None) -> str | None:
    """The city of most of the user's events, else the city with most upcoming events."""
    for who in ((user_id,) if user_id is not None else ()) + (None,):
        row = await (await conn.execute(_HOME_CITY, {"user": who})).fetchone()
        if row:
            return str(row[0])
    return None



_PICKS_EMAIL = "SELECT picks_email FROM users WHERE id = %s"
_SET_PICKS_EMAIL = "UPDATE users SET picks_email = %s WHERE id = %s"

# The weekly email of picks: one outbox row per opted-in user and ISO week (its dedupe key),
# carrying their top picks; the dispatcher sends it like an alert (opt-out and unsubscribe
# included). Users without picks are skipped until they have some.
_QUEUE_WEEKLY = """
WITH due AS (
    SELECT u.id FROM users u
    WHERE u.picks_email AND (u.picks_email_sent_at IS NULL
                             OR u.picks_email_sent_at <= now() - interval '7 days')
      AND EXISTS (SELECT 1 FROM recommendations r WHERE r.user_id = u.id)
), o AS (
    INSERT INTO alert_outbox (user_id, channel, dedupe_key, idempotency_key, payload)
    SELECT d.id, 'email', 'picks-' || d.id || '-' || to_char(now(), 'IYYY-IW'),
           'picks-' || d.id || '-' || to_char(now(), 'IYYY-IW'),
           jsonb_build_object('matches', jsonb_agg(jsonb_build_object(
               'kind', 'recommendation', 'event_id', e.id, 'event_name', e.name,
               'starts_at', e.starts_at, 'venue', v.name, 'reason', r.reason,
               'total_cents', (SELECT min(total_cents) FROM listings_current lc
                               WHERE lc.event_id = e.id AND lc.gone_at IS NULL))
               ORDER BY r.rank))
    FROM due d JOIN recommendations r ON r.user_id = d.id AND r.rank <= %(k)s
    JOIN events e ON e.id = r.event_id LEFT JOIN venues v ON v.id = e.venue_id
    WHERE e.starts_at IS NULL OR e.starts_at >= now()
    GROUP BY d.id
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING user_id
), s AS (
    UPDATE users SET picks_email_sent_at = now() WHERE id IN (SELECT user_id FROM o)
)
SELECT count(*) FROM o
"""


async def picks_email(conn: AsyncConnection[Any], user_id: int) -> bool:
    """Whether the user asked for the weekly email of picks."""
    row = await (await conn.execute(_PICKS_EMAIL, (user_id,))).fetchone()
    return bool(row and row[0])


async def set_picks_email(conn: AsyncConnection[Any], user_id: int, on: bool) -> None:
    await conn.execute(_SET_PICKS_EMAIL, (on, user_id))


def queue_weekly_picks(conn: psycopg.Connection[Any], k: int = 5) -> int:
    """Queue this week's email of picks for every opted-in user whose last one is a week
    old (one transaction; the dispatchers are notified at commit); returns how many."""
    from storage.alerts.outbox import NOTIFY_CHANNEL

    with conn.transaction():
        n = int(conn.execute(_QUEUE_WEEKLY, {"k": k}).fetchone()[0])
        if n:
            conn.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
    return n
