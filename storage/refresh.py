"""Refresh requests (``refresh_requests``): the API asks the engine to crawl an event now.

The API inserts a row (:func:`request_refresh`, one pending request per event) and its
trigger sends ``NOTIFY refresh_requests``; the engine listens (:func:`listen_for_requests`),
claims pending rows with ``FOR UPDATE SKIP LOCKED`` so several engines may share a database
(:func:`claim_pending`), and records the outcome (:func:`finish_request`). Callers poll the
row (:func:`get_refresh`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storage.db import record_row
from storage.errors import NotFound

if TYPE_CHECKING:
    import psycopg

#: the channel a new request notifies (payload: its id)
REFRESH_CHANNEL = "refresh_requests"

_COLS = "id, event_id, status, requested_at, claimed_at, finished_at, error"
#: one request per event at a time: serializes concurrent "refresh" calls of one event
_LOCK_EVENT = "SELECT pg_advisory_xact_lock(72011100, %s::int)"
_PENDING_OF_EVENT = f"""
SELECT {_COLS} FROM refresh_requests
WHERE event_id = %s AND claimed_at IS NULL ORDER BY id LIMIT 1
"""
_INSERT = f"""
INSERT INTO refresh_requests (event_id, requested_by) VALUES (%s, %s)
RETURNING {_COLS}
"""
_RECENT_BY_USER = """
SELECT count(*) FROM refresh_requests WHERE requested_by = %s
AND requested_at > now() - interval '1 hour'
"""
_GET = f"SELECT {_COLS} FROM refresh_requests WHERE id = %s"
_CLAIM = """
UPDATE refresh_requests r SET claimed_at = now(), claimed_by = %(by)s, status = 'running'
WHERE r.id IN (SELECT id FROM refresh_requests WHERE claimed_at IS NULL
               ORDER BY requested_at LIMIT 100 FOR UPDATE SKIP LOCKED)
RETURNING r.id, r.event_id, r.marketplace
"""
_FINISH = """
UPDATE refresh_requests SET finished_at = now(), status = %(status)s, error = %(error)s
WHERE id = %(id)s
"""


@dataclasses.dataclass(frozen=True, slots=True)
class RefreshRow:
    """A refresh request and how far the engine got with it."""

    id: int
    event_id: int | None
    status: str  # pending | running | done | failed
    requested_at: datetime
    claimed_at: datetime | None
    finished_at: datetime | None
    error: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimedRequest:
    """A request the engine took: which event (None = all) on which marketplace (None = all)."""

    id: int
    event_id: int | None
    marketplace: str | None


async def request_refresh(conn: psycopg.AsyncConnection[Any], event_id: int,
                          user_id: int | None) -> tuple[RefreshRow, bool]:
    """A pending refresh of the event: an existing unclaimed one, or a new one (True)."""
    async with conn.transaction(), conn.cursor(row_factory=record_row(RefreshRow)) as cur:
        await cur.execute(_LOCK_EVENT, (event_id % 2**31,))
        await cur.execute(_PENDING_OF_EVENT, (event_id,))
        row = await cur.fetchone()
        if row is not None:
            return row, False
        await cur.execute(_INSERT, (event_id, user_id))
        row = await cur.fetchone()
    assert row is not None
    return row, True


async def count_recent_refreshes(conn: psycopg.AsyncConnection[Any], user_id: int) -> int:
    """How many refreshes the user requested in the last hour."""
    row = await (await conn.execute(_RECENT_BY_USER, (user_id,))).fetchone()
    return int(row[0]) if row else 0


async def get_refresh(conn: psycopg.AsyncConnection[Any], request_id: int) -> RefreshRow:
    """The request, or ``NotFound``."""
    async with conn.cursor(row_factory=record_row(RefreshRow)) as cur:
        await cur.execute(_GET, (request_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"There is no refresh request {request_id}; POST "
                       "/api/v1/events/{{id}}/refresh creates one.")
    return row


def listen_for_requests(conn: psycopg.Connection) -> None:
    """Subscribe ``conn`` (autocommit) to new refresh requests."""
    conn.execute(f"LISTEN {REFRESH_CHANNEL}")


def claim_pending(conn: psycopg.Connection, claimed_by: str) -> list[ClaimedRequest]:
    """Take up to 100 pending requests, oldest first, skipping rows another engine holds."""
    with conn.cursor(row_factory=record_row(ClaimedRequest)) as cur:
        return cur.execute(_CLAIM, {"by": claimed_by}).fetchall()


def finish_request(conn: psycopg.Connection, request_id: int, status: str,
                   error: str | None) -> None:
    """Record the outcome ("done" or "failed", with the error) of a claimed request."""
    conn.execute(_FINISH, {"id": request_id, "status": status, "error": error})
