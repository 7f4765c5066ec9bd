"""``FrontierJournal``: the coordinator's frontier kept in PostgreSQL (``storage.frontier``).

The coordinator saves what changed a few times a second off its event loop; a changed step
that could not be saved (the database was away) is saved with the next one. After Ray
restarts the coordinator, ``restore`` puts the journaled schedule, queue and attempts back
into its (fresh) frontier: leases of the dead coordinator are queued again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from engine.crawl.shards import Shard

if TYPE_CHECKING:
    from engine.crawl.frontier import Frontier, FrontierChanges

logger = logging.getLogger(__name__)


class FrontierJournal:
    def __init__(self, database_url: str, run: str) -> None:
        from storage.db import pool

        self.run = run
        self._pool = pool(database_url, min_size=0, max_size=1, timeout=5.0)
        self.failures = 0

    def save(self, changes: FrontierChanges, *, continuous: bool,
             totals: dict[str, int]) -> bool:
        """Journal ``changes`` (``Frontier.take_changes()``, taken on the coordinator's loop:
        this runs in a thread); False when the database refused (give them back)."""
        from storage.frontier import FrontierEvent, FrontierShard, save_frontier

        events = [FrontierEvent(spider, eid, st.starts_at, st.due_at, st.last_low, st.crawls,
                                st.listings)
                  for (spider, eid), st in changes.events.items()]
        shards = [FrontierShard(sid, shard.to_json(), shard.attempt, not_before, worker)
                  for sid, (shard, worker, not_before) in changes.shards.items()]
        counts: dict[str, Any] = {**changes.counts,
                                  **{f"total_{k}": v for k, v in totals.items()}}
        try:
            with self._pool.connection() as conn:
                save_frontier(conn, self.run, continuous=continuous, counts=counts,
                              events=events, shards=shards, done=sorted(changes.removed))
        except Exception as err:  # the database is away: the caller keeps the changes
            self.failures += 1
            logger.warning("could not journal the frontier (will retry): %(err)s",
                           {"err": err})
            return False
        return True

    def restore(self, frontier: Frontier) -> tuple[bool, dict[str, int]] | None:
        """Put the journaled state back into ``frontier``; returns (continuous, coordinator
        totals), or None when nothing was journaled for this run."""
        from storage.frontier import load_frontier

        with self._pool.connection() as conn:
            saved = load_frontier(conn, self.run)
        if saved is None:
            return None
        events = {(e.spider, e.source_event_id): (e.starts_at, e.due_at, e.last_low, e.crawls,
                                                  e.listings)
                  for e in saved.events}
        shards = [(Shard.from_json(s.shard), s.not_before) for s in saved.shards]
        counts = {k: int(v) for k, v in saved.run.counts.items() if not k.startswith("total_")}
        totals = {k.removeprefix("total_"): int(v) for k, v in saved.run.counts.items()
                  if k.startswith("total_")}
        frontier.restore(events, shards, counts)
        logger.warning("coordinator restarted: resumed %(e)d events and %(s)d shards of run "
                       "%(run)s", {"e": len(events), "s": len(shards), "run": self.run})
        return saved.run.continuous, totals

    def drop(self) -> None:
        from storage.frontier import drop_frontier

        with self._pool.connection() as conn:
            drop_frontier(conn, self.run)

    def close(self) -> None:
        self._pool.close()
