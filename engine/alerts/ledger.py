"""What one dispatch round decided, written back in a handful of set-based statements.

The dispatcher fills a ``Ledger`` while it works through a claimed batch (rows sent, closed,
deferred, retried; channels used or disabled) and ``flush`` writes it with one statement
per kind instead of one per message (``storage.alerts.outbox`` and ``.recipients``): at
hundreds of messages a second, round trips and commits, not the providers, are what a
dispatcher waits on.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from storage.alerts.outbox import SentUpdate, StatusUpdate, mark_sent, update_status
from storage.alerts.recipients import disable_channels, touch_channels

if TYPE_CHECKING:
    from datetime import datetime

    import psycopg

    from engine.alerts.channels.base import Sent


@dataclasses.dataclass(slots=True)
class Ledger:
    """Outcomes of one claimed batch, in the claim transaction's terms."""

    sent: list[SentUpdate] = dataclasses.field(default_factory=list)
    other: list[StatusUpdate] = dataclasses.field(default_factory=list)
    channels_sent: set[tuple[int, str]] = dataclasses.field(default_factory=set)
    channels_disabled: dict[tuple[int, str], str] = dataclasses.field(default_factory=dict)

    def mark_sent(self, ids: list[int], key: str, sent: Sent, user_id: int,
                  channel: str) -> None:
        primary = ids[0]
        self.sent += [SentUpdate(i, primary, sent.provider_id, sent.status, key) for i in ids]
        self.channels_sent.add((user_id, channel))

    def close(self, ids: list[int], status: str, error: str,
              attempts: int | None = None) -> None:
        self.other += [StatusUpdate(i, status, error, attempts, None, None) for i in ids]

    def later(self, ids: list[int], *, error: str | None = None, attempts: int | None = None,
              delay: float | None = None, at: datetime | None = None) -> None:
        """Stay pending until ``at`` (or ``delay`` seconds from now)."""
        self.other += [StatusUpdate(i, "pending", error, attempts, delay, at) for i in ids]

    def disable(self, user_id: int, channel: str, reason: str) -> None:
        self.channels_disabled[(user_id, channel)] = reason

    def flush(self, conn: psycopg.Connection[Any]) -> None:
        """Write it all inside the claim transaction (the caller commits)."""
        mark_sent(conn, self.sent)
        update_status(conn, self.other)
        disable_channels(conn, self.channels_disabled)
        touch_channels(conn, self.channels_sent)
