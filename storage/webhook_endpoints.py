"""Webhook endpoints (``webhook_endpoints``): a user's URLs, what each wants, its signing
secret and the rotation overlap, and the test event. The API's side (async).

The secret (``whsec_`` + 32 random bytes, URL-safe base64) is returned by :func:`create`
and :func:`rotate` only; every other read leaves it out. A rotation keeps the old secret
signing beside the new one until ``previous_expires_at``, so a receiver can switch over
without dropping a delivery. The engine's side (sending, the delivery log, disabling) is
:mod:`storage.webhook_deliveries`.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.alerts.outbox import NOTIFY_CHANNEL
from storage.db import record_row
from storage.errors import LimitReached, NotFound

if TYPE_CHECKING:
    from psycopg import AsyncConnection

#: every event type an endpoint can subscribe to (the payload's ``type``)
EVENT_TYPES = ("alert.triggered", "endpoint.test")

_COLS = """id, url, description, events, format, enabled, disabled_reason, disabled_at,
    previous_expires_at, created_at, updated_at"""
_LIMIT_LOCK = "SELECT pg_advisory_xact_lock(72011880, %s::int)"
_COUNT = "SELECT count(*) FROM webhook_endpoints WHERE user_id = %s"
_INSERT = f"""INSERT INTO webhook_endpoints (user_id, url, description, events, format, secret)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLS}"""
_LIST = f"SELECT {_COLS} FROM webhook_endpoints WHERE user_id = %s ORDER BY id"
_GET = f"SELECT {_COLS} FROM webhook_endpoints WHERE id = %s AND user_id = %s"
_UPDATE = """UPDATE webhook_endpoints SET url = coalesce(%(url)s, url),
    description = coalesce(%(description)s, description), events = coalesce(%(events)s, events),
    format = coalesce(%(format)s, format), enabled = coalesce(%(enabled)s, enabled),
    disabled_reason = CASE WHEN %(enabled)s THEN NULL ELSE disabled_reason END,
    disabled_at = CASE WHEN %(enabled)s THEN NULL ELSE disabled_at END, updated_at = now()
WHERE id = %(id)s AND user_id = %(user_id)s RETURNING """ + _COLS
_DELETE = "DELETE FROM webhook_endpoints WHERE id = %s AND user_id = %s RETURNING id"
_ROTATE = f"""UPDATE webhook_endpoints SET previous_secret = secret, secret = %s,
    previous_expires_at = now() + make_interval(secs => %s), updated_at = now()
WHERE id = %s AND user_id = %s RETURNING {_COLS}"""
_DELIVERIES = """SELECT id, webhook_id, event_type, attempt, status_code, response_ms, ok, error,
    attempted_at FROM webhook_deliveries WHERE endpoint_id = %s AND id < %s
ORDER BY id DESC LIMIT %s"""
# A test event goes through the outbox like an alert: the same dispatcher, signing, log.
_TEST = """INSERT INTO alert_outbox (user_id, channel, dedupe_key, idempotency_key, payload,
                                     endpoint_id)
SELECT user_id, 'webhook', k, k, jsonb_build_object('type', 'endpoint.test', 'matches',
       '[]'::jsonb), id
FROM webhook_endpoints, (SELECT 'test-' || %s || '-' || %s AS k) key
WHERE id = %s AND user_id = %s RETURNING idempotency_key"""
_NOTIFY = "SELECT pg_notify(%s, '')"


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    id: int
    url: str
    description: str | None
    events: list[str]
    format: str  # json | slack | discord
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    previous_expires_at: datetime | None  # the old secret signs until then
    created_at: datetime
    updated_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """One HTTP attempt at an endpoint."""

    id: int
    webhook_id: str
    event_type: str
    attempt: int
    status_code: int | None
    response_ms: float | None
    ok: bool
    error: str | None
    attempted_at: datetime


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _missing(eid: int) -> NotFound:
    return NotFound(f"You have no webhook endpoint with id {eid}; list yours with "
                    "GET /api/v1/webhook-endpoints.")


async def create(conn: AsyncConnection[Any], user_id: int, *, url: str,
                 description: str | None, events: list[str], fmt: str, allowed: int,
                 plan: str, upgrade_url: str | None = None) -> tuple[Endpoint, str]:
    """A new endpoint and its secret (the only time it is returned); :class:`LimitReached`
    past the plan's ``allowed`` endpoints. In the caller's transaction."""
    await conn.execute(_LIMIT_LOCK, (user_id % 2**31,))
    cur = await conn.execute(_COUNT, (user_id,))
    row = await cur.fetchone()
    if (int(row[0]) if row else 0) >= allowed:
        raise LimitReached(f"The {plan} plan allows {allowed} webhook endpoint"
                           f"{'s' if allowed != 1 else ''}: delete one, or upgrade to premium.",
                           upgrade_url=upgrade_url)
    secret = new_secret()
    ecur = conn.cursor(row_factory=record_row(Endpoint))
    await ecur.execute(_INSERT, (user_id, url, description, events, fmt, secret))
    ep = await ecur.fetchone()
    assert ep is not None
    return ep, secret


async def list_endpoints(conn: AsyncConnection[Any], user_id: int) -> list[Endpoint]:
    cur = conn.cursor(row_factory=record_row(Endpoint))
    await cur.execute(_LIST, (user_id,))
    return await cur.fetchall()


async def get(conn: AsyncConnection[Any], user_id: int, eid: int) -> Endpoint:
    cur = conn.cursor(row_factory=record_row(Endpoint))
    await cur.execute(_GET, (eid, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing(eid)
    return row


async def update(conn: AsyncConnection[Any], user_id: int, eid: int, *,
                 url: str | None = None, description: str | None = None,
                 events: list[str] | None = None, fmt: str | None = None,
                 enabled: bool | None = None) -> Endpoint:
    """Change what is given; enabling again clears the reason it was disabled."""
    cur = conn.cursor(row_factory=record_row(Endpoint))
    await cur.execute(_UPDATE, {"url": url, "description": description, "events": events,
                                "format": fmt, "enabled": enabled, "id": eid,
                                "user_id": user_id})
    row = await cur.fetchone()
    if row is None:
        raise _missing(eid)
    return row


async def delete(conn: AsyncConnection[Any], user_id: int, eid: int) -> None:
    cur = await conn.execute(_DELETE, (eid, user_id))
    if await cur.fetchone() is None:
        raise _missing(eid)


async def rotate(conn: AsyncConnection[Any], user_id: int, eid: int,
                 overlap_seconds: int) -> tuple[Endpoint, str]:
    """A new secret (returned once); the old one keeps signing for ``overlap_seconds``."""
    secret = new_secret()
    cur = conn.cursor(row_factory=record_row(Endpoint))
    await cur.execute(_ROTATE, (secret, overlap_seconds, eid, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing(eid)
    return row, secret


async def deliveries(conn: AsyncConnection[Any], user_id: int, eid: int, limit: int,
                     before: int | None = None) -> list[Delivery]:
    """The endpoint's delivery log, newest first (``limit`` + 1 rows, for paging)."""
    await get(conn, user_id, eid)
    cur = conn.cursor(row_factory=record_row(Delivery))
    await cur.execute(_DELIVERIES, (eid, before or 2**62, limit + 1))
    return await cur.fetchall()


async def send_test(conn: AsyncConnection[Any], user_id: int, eid: int) -> str:
    """Queue an ``endpoint.test`` delivery (sent by the dispatcher at commit); its id."""
    cur = await conn.execute(_TEST, (eid, secrets.token_hex(6), eid, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing(eid)
    await conn.execute(_NOTIFY, (NOTIFY_CHANNEL,))
    return str(row[0])
