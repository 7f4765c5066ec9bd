"""The alerts sent to a user (their ``alert_outbox`` rows) and what the provider said of them.

Reads are scoped by ``user_id``, newest first. The provider's delivery reports (Twilio's
status callbacks) are written here too, onto the message and its delivery attempts.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.db import record_row

if TYPE_CHECKING:
    from psycopg import AsyncConnection


@dataclasses.dataclass(frozen=True, slots=True)
class SentAlert:
    """An alert matched for the user and its delivery state."""

    id: int
    rule_id: int | None
    channel: str
    status: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveredAlert(SentAlert):
    """A :class:`SentAlert` with its last delivery attempt's provider answer."""

    delivery_status: str | None = None
    delivery_error: str | None = None


_ALERT_COLS = "o.id, o.rule_id, o.channel, o.status, o.payload, o.attempts, o.created_at, " \
    "o.sent_at, o.last_error"
_PAGE = f"""SELECT {_ALERT_COLS} FROM alert_outbox o
WHERE o.user_id = %s AND o.id < %s ORDER BY o.id DESC LIMIT %s"""
_RECENT = f"""
SELECT {_ALERT_COLS}, d.status AS delivery_status, d.error AS delivery_error
FROM alert_outbox o
LEFT JOIN LATERAL (SELECT status, error FROM alert_deliveries
                   WHERE outbox_id = o.id ORDER BY id DESC LIMIT 1) d ON true
WHERE o.user_id = %s ORDER BY o.id DESC LIMIT %s
"""
_OUTBOX_STATUS = """
UPDATE alert_outbox SET provider_status = %s, last_error = coalesce(%s, last_error)
WHERE provider_id = %s RETURNING user_id
"""
_DELIVERY_STATUS = "UPDATE alert_deliveries SET provider_status = %s WHERE provider_id = %s"


async def alert_page(conn: AsyncConnection[Any], user_id: int, limit: int,
                     before: int | None) -> list[SentAlert]:
    """Up to ``limit`` + 1 of the user's alerts with ids below ``before``, newest first."""
    cur = conn.cursor(row_factory=record_row(SentAlert))
    await cur.execute(_PAGE, (user_id, before or 2**62, limit + 1))
    return await cur.fetchall()


async def recent_alerts(conn: AsyncConnection[Any], user_id: int,
                        limit: int = 50) -> list[DeliveredAlert]:
    """The user's latest alerts with the last delivery attempt's provider answer."""
    cur = conn.cursor(row_factory=record_row(DeliveredAlert))
    await cur.execute(_RECENT, (user_id, limit))
    return await cur.fetchall()


async def record_provider_status(conn: AsyncConnection[Any], provider_id: str, status: str,
                                 error: str | None) -> set[int]:
    """The provider's status of message ``provider_id`` (and ``error``, if it failed) onto
    the message and its delivery attempts; returns the users it was sent to."""
    cur = await conn.execute(_OUTBOX_STATUS, (status, error, provider_id))
    users = {r[0] for r in await cur.fetchall()}
    await conn.execute(_DELIVERY_STATUS, (status, provider_id))
    return users
