"""The dispatcher's side of webhook endpoints (sync): what to send to, the delivery log,
and disabling an endpoint that keeps failing, with an email to its owner.

Every HTTP attempt is one ``webhook_deliveries`` row (status code, response time, error,
when), a dispatch round's rows written together as soon as its sends returned, so the log
shows retries as they happen; a round's endpoints are read together before it sends
(``targets``). Those connections do not wait for the log's WAL flush
(``relaxed``): the log is what the dashboard shows, not the exactly-once record
(``alert_deliveries`` is), and a flush per delivery was most of a webhook's time in a
burst. The owner's email is an ``alert_outbox`` row on the email channel (same dispatcher,
same exactly-once record), written with the disable, durably.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from psycopg.types.json import Jsonb

from storage.alerts._unnest import as_columns
from storage.alerts.outbox import NOTIFY_CHANNEL
from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

_TARGET = """SELECT id, user_id, url, format, enabled, events, secret,
    CASE WHEN previous_expires_at > now() THEN previous_secret END AS previous_secret
FROM webhook_endpoints WHERE id = ANY(%s)"""
_LOG = """INSERT INTO webhook_deliveries (endpoint_id, outbox_id, webhook_id, event_type,
    attempt, status_code, response_ms, ok, error, attempted_at)
SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::int[],
                     %s::int[], %s::real[], %s::bool[], %s::text[], %s::timestamptz[])
ORDER BY 10"""
_DISABLE = """UPDATE webhook_endpoints SET enabled = false, disabled_reason = %s,
    disabled_at = now(), updated_at = now()
WHERE id = %s AND enabled RETURNING user_id, url"""
_OWNER_EMAIL = """INSERT INTO alert_outbox (user_id, channel, dedupe_key, idempotency_key,
                                            payload)
VALUES (%s, 'email', %s, %s, %s) ON CONFLICT (dedupe_key) DO NOTHING"""
_NOTIFY = "SELECT pg_notify(%s, '')"
_RELAXED = "SET synchronous_commit = off"
_DURABLE = "SET LOCAL synchronous_commit = on"


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """An endpoint as the sender needs it: where, how, and the secrets that sign."""

    id: int
    user_id: int
    url: str
    format: str
    enabled: bool
    events: list[str]
    secret: str
    previous_secret: str | None  # still signing during a rotation's overlap


def relaxed(conn: psycopg.Connection[Any]) -> None:
    """Make ``conn`` (the delivery log's) commit without waiting for the WAL flush: a crash
    of the database may lose the last log rows, never a delivery's exactly-once record."""
    conn.execute(_RELAXED)


class Attempt(NamedTuple):
    """One HTTP attempt at an endpoint, as its delivery log row."""

    endpoint_id: int
    outbox_id: int | None
    webhook_id: str
    event_type: str
    attempt: int
    status_code: int | None  # None: no HTTP answer (refused, timeout)
    response_ms: float | None
    ok: bool
    error: str | None
    attempted_at: datetime


def targets(conn: psycopg.Connection[Any], endpoint_ids: Sequence[int]) -> dict[int, Target]:
    """The endpoints of ``endpoint_ids`` that exist, by id."""
    with conn.cursor(row_factory=record_row(Target)) as cur:
        return {t.id: t for t in cur.execute(_TARGET, (list(endpoint_ids),))}


def log_attempts(conn: psycopg.Connection[Any], attempts: Sequence[Attempt]) -> None:
    """Add ``attempts`` to the delivery log, in the order they were made."""
    if attempts:
        conn.execute(_LOG, as_columns(attempts, 10))


def disable_endpoint(conn: psycopg.Connection[Any], endpoint_id: int, reason: str,
                     manage_url: str) -> bool:
    """Disable the endpoint with ``reason`` and queue an email to its owner (once: an
    endpoint already disabled is left alone); True if this call disabled it."""
    with conn.transaction():
        conn.execute(_DURABLE)
        row = conn.execute(_DISABLE, (reason, endpoint_id)).fetchone()
        if row is None:
            return False
        user_id, url = row
        key = f"webhook-disabled-{endpoint_id}-{conn.execute('SELECT now()').fetchone()[0]:%s}"
        conn.execute(_OWNER_EMAIL, (user_id, key, key, Jsonb({"matches": [{
            "kind": "webhook_disabled", "endpoint_id": endpoint_id, "endpoint_url": url,
            "reason": reason, "url": manage_url}]})))
        conn.execute(_NOTIFY, (NOTIFY_CHANNEL,))
    return True
