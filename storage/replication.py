"""Streaming replication as the API's read routing sees it: how far a replica lags.

A replica's lag is the age of the last transaction it replayed while it has WAL left to
replay, and 0 when it has replayed all it received (an idle primary is not "lag"). A server
not in recovery (a primary, or a promoted replica) lags by 0.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from storage.db import record_row

if TYPE_CHECKING:
    from psycopg import AsyncConnection, Connection

_LAG = """
SELECT pg_is_in_recovery() AS in_recovery,
       CASE WHEN NOT pg_is_in_recovery()
                 OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
            THEN 0.0
            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()),
                          'Infinity')
       END::float8 AS lag_s,
       pg_is_in_recovery() AND pg_is_wal_replay_paused() AS replay_paused
"""


@dataclasses.dataclass(slots=True, frozen=True)
class ReplicaLag:
    in_recovery: bool
    lag_s: float
    replay_paused: bool


async def replica_lag(conn: AsyncConnection) -> ReplicaLag:
    cur = conn.cursor(row_factory=record_row(ReplicaLag))
    row = await (await cur.execute(_LAG)).fetchone()
    assert row is not None
    return row


def replica_lag_sync(conn: Connection) -> ReplicaLag:
    row = conn.cursor(row_factory=record_row(ReplicaLag)).execute(_LAG).fetchone()
    assert row is not None
    return row
