"""The dispatcher's side of webhook endpoints (sync): what to send to, the delivery log,
and disabling an endpoint that keeps failing, with an email to its owner.

Every HTTP attempt is one ``webhook_deliveries`` row (status code, response time, error),
written on the dispatcher's autocommit connection as soon as the endpoint answers, so the
log shows retries as they happen. Those connections do not wait for the log's WAL flush
(``relaxed``): the log is what the dashboard shows, not the exactly-once record
(``alert_deliveries`` is), and a flush per delivery was most of a webhook's time in a
burst. The owner's email is an ``alert_outbox`` row on the email channel (same dispatcher,
same exactly-once record), written with the disable, durably.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from storage.alerts.outbox import NOTIFY_CHANNEL

if TYPE_CHECKING:
    import psycopg

_TARGET = """SELECT id, user_id, url, format, enabled, events, secret,
    CASE WHEN previous_expires_at > now() THEN previous_secret END AS previous_secret
FROM webhook_endpoints WHERE id = %s"""
_LOG = """INSERT INTO webhook_deliveries (endpoint_id, outbox_id, webhook_id, event_type,
    attempt, status_code, response_ms, ok, error)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"""
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


def target(conn: psycopg.Connection[Any], endpoint_id: int) -> Target | None:
    with conn.cursor(row_factory=class_row(Target)) as cur:
        return cur.execute(_TARGET, (endpoint_id,)).fetchone()


def log_attempt(conn: psycopg.Connection[Any], *, endpoint_id: int, outbox_id: int | None,
                webhook_id: str, event_type: str, attempt: int, status_code: int | None,
                response_ms: float | None, ok: bool, error: str | None) -> None:
    conn.execute(_LOG, (endpoint_id, outbox_id, webhook_id, event_type, attempt, status_code,
                        response_ms, ok, error))


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
