"""The alert outbox (``alert_outbox``): written from the matcher's hits, claimed and
settled by the dispatchers.

Writing: each hit's dedupe key -- (rule, listing, price) or (rule, event, get-in price /
restock) -- goes into ``alert_matches`` with ``ON CONFLICT DO NOTHING``; only the keys that
were new become outbox rows, in the same statement, so a replayed batch or the same drop
seen twice alerts once, while a further drop (a new price) alerts again. Coalescing starts
here: one batch's new matches for one person and channel become one outbox row (one
message; one per webhook endpoint of the 'webhook' channel, so each endpoint gets each
(rule, listing, price) once); the dispatcher merges rows that pile up while a message
waits. Quiet hours (the rule's, in its zone or the user's) set when the row becomes due.
SMS rows are written only for premium users; the dispatcher checks again at send time.
The dispatchers ``LISTEN`` on ``NOTIFY_CHANNEL``, notified at the matcher's commit.

Dispatching: ``claim_due`` takes due rows with ``FOR NO KEY UPDATE SKIP LOCKED`` (the
``FOR UPDATE`` variant that still lets attempt rows reference the claimed ones), so several
dispatchers share the work; a ``ChannelFilter`` limits a claim to some channels (or all but
some), so each channel's lane of a dispatcher claims only its own rows and a slow provider
never holds another channel's messages. ``mark_sent`` and ``update_status`` settle a round's
rows with one statement each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from storage.alerts._unnest import as_columns
from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

#: NOTIFY channel the dispatchers LISTEN on.
NOTIFY_CHANNEL = "ripcity_alerts"

_WRITE = """
WITH m AS (
    INSERT INTO alert_matches (dedupe_key, rule_id, user_id, event_id, observed_at)
    SELECT DISTINCT ON (dedupe_key) dedupe_key, rule_id, user_id, event_id, observed_at
    FROM _am_hits ORDER BY dedupe_key
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, dedupe_key
), x AS (
    SELECT DISTINCT ON (m.id, ch.channel, we.id) m.id AS match_id, h.user_id, h.rule_id,
        ch.channel, we.id AS endpoint_id,
        CASE WHEN r.quiet_start IS NULL THEN now()
             ELSE alert_quiet_until(now(), r.quiet_start, r.quiet_end,
                                    coalesce(r.quiet_timezone, u.timezone)) END AS due,
        jsonb_build_object(
            'match_id', m.id, 'rule_id', h.rule_id, 'kind', h.kind, 'event_id', h.event_id,
            'event_name', e.name, 'starts_at', e.starts_at, 'venue', v.name,
            'marketplace', h.marketplace, 'listing_id', h.listing_id, 'section', h.section,
            'row', h."row", 'quantity', h.quantity, 'old_total_cents', h.old_total_cents,
            'total_cents', h.total_cents, 'reference_cents', h.reference_cents,
            'deal_score', h.deal_score, 'observed_at', h.observed_at,
            'threshold_cents', r.threshold_cents, 'drop_percent', r.drop_percent,
            'min_deal_score', r.min_deal_score, 'near_percent', r.near_percent,
            'drop_count', r.drop_count, 'low_window_seconds', r.low_window_seconds,
            'sections', r.sections, 'url', es.url) AS item
    FROM m JOIN _am_hits h ON h.dedupe_key = m.dedupe_key
    JOIN alert_rules r ON r.id = h.rule_id
    JOIN users u ON u.id = h.user_id
    CROSS JOIN LATERAL unnest(r.channels) ch(channel)
    LEFT JOIN webhook_endpoints we ON ch.channel = 'webhook' AND we.user_id = h.user_id
        AND we.enabled AND 'alert.triggered' = ANY(we.events)
    LEFT JOIN events e ON e.id = h.event_id
    LEFT JOIN venues v ON v.id = e.venue_id
    LEFT JOIN LATERAL (
        SELECT s.url FROM event_sources s
        WHERE s.event_id = h.event_id AND s.marketplace = h.marketplace LIMIT 1) es ON true
    WHERE CASE ch.channel WHEN 'email' THEN true
                          WHEN 'sms' THEN alert_user_is_premium(h.user_id)
                          WHEN 'webhook' THEN we.id IS NOT NULL ELSE false END
), o AS (
    INSERT INTO alert_outbox (rule_id, user_id, channel, dedupe_key, idempotency_key, payload,
                              next_attempt_at, endpoint_id)
    SELECT min(rule_id), user_id, channel,
           'm' || min(match_id) || '-' || channel || coalesce('-e' || endpoint_id, ''),
           'm' || min(match_id) || '-' || channel || coalesce('-e' || endpoint_id, ''),
           jsonb_build_object('matches', jsonb_agg(item ORDER BY match_id)), due, endpoint_id
    FROM x GROUP BY user_id, channel, endpoint_id, due
    RETURNING id
)
SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM o)
"""
_NOTIFY = "SELECT pg_notify(%s, '')"
_LISTEN = f"LISTEN {NOTIFY_CHANNEL}"

_CLAIM = """
SELECT id, user_id, channel, payload, attempts, idempotency_key, endpoint_id
FROM alert_outbox
WHERE status = 'pending' AND next_attempt_at <= now(){channels}
ORDER BY next_attempt_at, id
LIMIT %s
FOR NO KEY UPDATE SKIP LOCKED
"""

_NEXT_DUE = """SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
               FROM alert_outbox WHERE status = 'pending'{channels}"""

# the channel condition of both, by ChannelFilter: none, only these, all but these
_CHANNELS = {None: "", False: " AND channel = ANY(%s)", True: " AND channel <> ALL(%s)"}

_SENT = """
UPDATE alert_outbox o SET status = 'sent', sent_at = now(), provider_id = v.pid,
    provider_status = v.pstatus, idempotency_key = v.key, last_error = NULL,
    merged_into = CASE WHEN o.id = v.primary_id THEN NULL ELSE v.primary_id END
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[])
     AS v (id, primary_id, pid, pstatus, key)
WHERE o.id = v.id
"""

# Everything that is not "sent": closed (suppressed / failed), retried, deferred. A NULL
# error keeps the previous one (a coalescing wait is not an error).
_OTHER = """
UPDATE alert_outbox o SET status = v.status, last_error = coalesce(v.error, o.last_error),
    attempts = coalesce(v.attempts, o.attempts),
    next_attempt_at = coalesce(v.at, now() + make_interval(secs => v.delay), o.next_attempt_at)
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::int[], %s::float8[], %s::timestamptz[])
     AS v (id, status, error, attempts, delay, at)
WHERE o.id = v.id
"""

_COUNTS = """SELECT channel, status, count(*) AS rows FROM alert_outbox
             GROUP BY 1, 2 ORDER BY 1, 2"""


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelFilter:
    """Which channels' rows a claim takes: ``channels`` only, or (``exclude``) all others."""

    channels: tuple[str, ...]
    exclude: bool = False


def _where(sql: str, only: ChannelFilter | None, *params: Any) -> tuple[str, tuple[Any, ...]]:
    """``sql`` with the channel condition of ``only``, and its parameters."""
    if only is None:
        return sql.format(channels=_CHANNELS[None]), params
    return (sql.format(channels=_CHANNELS[only.exclude]), (list(only.channels), *params))


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxRow:
    """A claimed outbox row: one person, one channel, the matches it carries."""

    id: int
    user_id: int
    channel: str
    payload: dict[str, Any]  # {"matches": [...]}
    attempts: int
    idempotency_key: str | None
    endpoint_id: int | None = None  # the 'webhook' channel: which endpoint


class SentUpdate(NamedTuple):
    """A row that went out: alone (``primary_id == id``) or merged into ``primary_id``."""

    id: int
    primary_id: int
    provider_id: str | None
    provider_status: str | None
    key: str


class StatusUpdate(NamedTuple):
    """A row closed (``suppressed`` / ``failed``) or left ``pending`` until ``at`` or for
    ``delay`` seconds; None keeps the stored error, attempts, due time."""

    id: int
    status: str
    error: str | None
    attempts: int | None
    delay: float | None
    at: datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class OutboxCount:
    channel: str
    status: str
    rows: int


def write_outbox(cur: psycopg.Cursor[Any]) -> tuple[int, int]:
    """Turn the hits in ``_am_hits`` into matches and outbox rows; returns (new matches,
    outbox rows). Runs inside the caller's transaction; NOTIFY is delivered at commit."""
    matches, outbox = cur.execute(_WRITE).fetchone()
    if outbox:
        cur.execute(_NOTIFY, (NOTIFY_CHANNEL,))
    return int(matches), int(outbox)


def listen(conn: psycopg.Connection[Any]) -> None:
    """Subscribe ``conn`` (autocommit) to the matcher's notifications."""
    conn.execute(_LISTEN)


def claim_due(conn: psycopg.Connection[Any], limit: int,
              only: ChannelFilter | None = None) -> list[OutboxRow]:
    """Lock up to ``limit`` due pending rows (of the channels ``only`` selects) no other
    dispatcher holds, oldest due first; the claim lasts as long as the caller's transaction."""
    with conn.cursor(row_factory=record_row(OutboxRow)) as cur:
        return cur.execute(*_where(_CLAIM, only, limit)).fetchall()


def seconds_to_next_due(conn: psycopg.Connection[Any],
                        only: ChannelFilter | None = None) -> float | None:
    """Seconds until the earliest pending row (of the channels ``only`` selects) is due
    (negative: overdue); None if none."""
    row = conn.execute(*_where(_NEXT_DUE, only)).fetchone()
    return None if row is None else row[0]


def mark_sent(conn: psycopg.Connection[Any], rows: Sequence[SentUpdate]) -> None:
    """Record rows as sent, in the claim transaction."""
    if rows:
        conn.execute(_SENT, as_columns(rows, 5))


def update_status(conn: psycopg.Connection[Any], rows: Sequence[StatusUpdate]) -> None:
    """Close, defer or retry rows, in the claim transaction."""
    if rows:
        conn.execute(_OTHER, as_columns(rows, 6))


def outbox_counts(conn: psycopg.Connection[Any]) -> list[OutboxCount]:
    """Outbox rows by channel and status (``ripcity alerts status``)."""
    with conn.cursor(row_factory=record_row(OutboxCount)) as cur:
        return cur.execute(_COUNTS).fetchall()
