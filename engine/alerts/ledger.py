"""What one dispatch round decided, written back in a handful of set-based statements.

The dispatcher fills a ``Ledger`` while it works through a claimed batch (rows sent, closed,
deferred, retried; channels used or disabled) and ``flush`` writes it with one statement
per kind instead of one per message: at hundreds of messages a second, round trips and
commits, not the providers, are what a dispatcher waits on.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    import psycopg

    from engine.alerts.channels.base import Sent

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

# Sorted input, so two dispatchers touching the same people lock rows in the same order.
_CHANNEL_SENT = """
INSERT INTO alert_user_channels (user_id, channel, last_sent_at)
SELECT u, c, now() FROM unnest(%s::bigint[], %s::text[]) AS v (u, c)
ON CONFLICT (user_id, channel) DO UPDATE SET last_sent_at = now(), updated_at = now()
"""

_CHANNEL_DISABLE = """
INSERT INTO alert_user_channels (user_id, channel, disabled_reason, disabled_at)
SELECT u, c, r, now() FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v (u, c, r)
ON CONFLICT (user_id, channel) DO UPDATE SET disabled_reason = EXCLUDED.disabled_reason,
    disabled_at = now(), updated_at = now()
"""

_ATTEMPTS_START = """
INSERT INTO alert_deliveries (outbox_id, channel, status, idempotency_key)
SELECT o, c, 'sending', k FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v (o, c, k)
RETURNING outbox_id, id
"""

_ATTEMPTS_DONE = """
UPDATE alert_deliveries d SET status = v.status, provider_id = v.pid,
    provider_status = v.pstatus, error = v.error, finished_at = now()
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[])
     AS v (id, status, pid, pstatus, error)
WHERE d.id = v.id
"""


@dataclasses.dataclass(slots=True)
class Ledger:
    """Outcomes of one claimed batch, in the claim transaction's terms."""

    sent: list[tuple[int, int, str | None, str | None, str]] = dataclasses.field(
        default_factory=list)  # (id, primary id, provider id, provider status, key)
    other: list[tuple[int, str, str | None, int | None, float | None, datetime | None]] = (
        dataclasses.field(default_factory=list))  # (id, status, error, attempts, delay, at)
    channels_sent: set[tuple[int, str]] = dataclasses.field(default_factory=set)
    channels_disabled: dict[tuple[int, str], str] = dataclasses.field(default_factory=dict)

    def mark_sent(self, ids: list[int], key: str, sent: Sent, user_id: int,
                  channel: str) -> None:
        primary = ids[0]
        self.sent += [(i, primary, sent.provider_id, sent.status, key) for i in ids]
        self.channels_sent.add((user_id, channel))

    def close(self, ids: list[int], status: str, error: str,
              attempts: int | None = None) -> None:
        self.other += [(i, status, error, attempts, None, None) for i in ids]

    def later(self, ids: list[int], *, error: str | None = None, attempts: int | None = None,
              delay: float | None = None, at: datetime | None = None) -> None:
        """Stay pending until ``at`` (or ``delay`` seconds from now)."""
        self.other += [(i, "pending", error, attempts, delay, at) for i in ids]

    def disable(self, user_id: int, channel: str, reason: str) -> None:
        self.channels_disabled[(user_id, channel)] = reason

    def flush(self, conn: psycopg.Connection[Any]) -> None:
        """Write it all inside the claim transaction (the caller commits)."""
        with conn.cursor() as cur:
            if self.sent:
                cur.execute(_SENT, _columns(self.sent, 5))
            if self.other:
                cur.execute(_OTHER, _columns(self.other, 6))
            if self.channels_disabled:
                items = sorted(self.channels_disabled.items())
                cur.execute(_CHANNEL_DISABLE, ([u for (u, _), _ in items],
                                               [c for (_, c), _ in items],
                                               [r for _, r in items]))
            if self.channels_sent:
                pairs = sorted(self.channels_sent)
                cur.execute(_CHANNEL_SENT, ([u for u, _ in pairs], [c for _, c in pairs]))


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[]] * width


def start_attempts(conn: psycopg.Connection[Any],
                   rows: list[tuple[int, str, str]]) -> dict[int, int]:
    """Commit a ``sending`` attempt (outbox id, channel, idempotency key) per row before any
    provider is called; returns attempt id by outbox id. ``conn`` autocommits."""
    if not rows:
        return {}
    with conn.cursor() as cur:
        cur.execute(_ATTEMPTS_START, _columns(rows, 3))
        return dict(cur.fetchall())


def finish_attempts(conn: psycopg.Connection[Any],
                    rows: list[tuple[int, str, str | None, str | None, str | None]]) -> None:
    """Record what the providers said: (attempt id, status, provider id, provider status,
    error), committed at once on the autocommit connection."""
    if rows:
        conn.execute(_ATTEMPTS_DONE, _columns(rows, 5))
