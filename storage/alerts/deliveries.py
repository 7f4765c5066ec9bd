"""Delivery attempts (``alert_deliveries``): the record that makes sending exactly-once.

Before any provider is called, a ``sending`` attempt per outbox row (with the message's
idempotency key) is committed; ``sent`` / ``failed`` is committed as soon as the provider
answers. A row whose last attempt is still ``sending`` was in flight when its dispatcher
died: the dispatcher asks the provider before it sends again, under the same key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from storage.alerts._unnest import as_columns
from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

_LAST = """
SELECT DISTINCT ON (outbox_id) outbox_id, idempotency_key, status, provider_id, provider_status
FROM alert_deliveries WHERE outbox_id = ANY(%s) ORDER BY outbox_id, id DESC
"""

_START = """
INSERT INTO alert_deliveries (outbox_id, channel, status, idempotency_key)
SELECT o, c, 'sending', k FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v (o, c, k)
RETURNING outbox_id, id
"""

_FINISH = """
UPDATE alert_deliveries d SET status = v.status, provider_id = v.pid,
    provider_status = v.pstatus, error = v.error, finished_at = now()
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[])
     AS v (id, status, pid, pstatus, error)
WHERE d.id = v.id
"""


@dataclasses.dataclass(frozen=True, slots=True)
class LastAttempt:
    """The latest attempt at one outbox row."""

    outbox_id: int
    idempotency_key: str
    status: str  # "sending" | "sent" | "failed"
    provider_id: str | None
    provider_status: str | None


class AttemptStart(NamedTuple):
    outbox_id: int
    channel: str
    idempotency_key: str


class AttemptResult(NamedTuple):
    attempt_id: int
    status: str  # "sent" | "failed"
    provider_id: str | None
    provider_status: str | None
    error: str | None


def last_attempts(conn: psycopg.Connection[Any], outbox_ids: Sequence[int]
                  ) -> dict[int, LastAttempt]:
    """The latest attempt of each of ``outbox_ids`` that has one, by outbox id."""
    with conn.cursor(row_factory=record_row(LastAttempt)) as cur:
        return {a.outbox_id: a for a in cur.execute(_LAST, (list(outbox_ids),)).fetchall()}


def start_attempts(conn: psycopg.Connection[Any], rows: Sequence[AttemptStart]
                   ) -> dict[int, int]:
    """Commit a ``sending`` attempt per row before any provider is called; returns attempt
    id by outbox id. ``conn`` autocommits."""
    if not rows:
        return {}
    with conn.cursor() as cur:
        cur.execute(_START, as_columns(rows, 3))
        return dict(cur.fetchall())


def finish_attempts(conn: psycopg.Connection[Any], rows: Sequence[AttemptResult]) -> None:
    """Record what the providers said, committed at once on the autocommit connection."""
    if rows:
        conn.execute(_FINISH, as_columns(rows, 5))
