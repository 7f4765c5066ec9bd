"""The crawl frontier's journal (``crawl_frontier_*``): what a restarted coordinator resumes.

The coordinator saves what changed after each step (:func:`save_frontier`, one transaction:
events' schedules, queued or leased shards with their attempts, shards done) and, after a
restart, reads it back (:func:`load_frontier`). A run's rows are dropped when its engine
stops (:func:`drop_frontier`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

_RUN = """
INSERT INTO crawl_frontier_runs (run, continuous, counts) VALUES (%s, %s, %s)
ON CONFLICT (run) DO UPDATE SET continuous = EXCLUDED.continuous OR
    crawl_frontier_runs.continuous, counts = EXCLUDED.counts, updated_at = now()
"""
_EVENT = """
INSERT INTO crawl_frontier_events (run, spider, source_event_id, starts_at, due_at,
                                   last_low, crawls, listings)
VALUES (%(run)s, %(spider)s, %(source_event_id)s, %(starts_at)s, %(due_at)s, %(last_low)s,
        %(crawls)s, %(listings)s)
ON CONFLICT (run, spider, source_event_id) DO UPDATE SET starts_at = EXCLUDED.starts_at,
    due_at = EXCLUDED.due_at, last_low = EXCLUDED.last_low, crawls = EXCLUDED.crawls,
    listings = EXCLUDED.listings
"""
_SHARD = """
INSERT INTO crawl_frontier_shards (run, shard_id, shard, attempt, not_before, leased_to)
VALUES (%(run)s, %(shard_id)s, %(shard)s, %(attempt)s, %(not_before)s, %(leased_to)s)
ON CONFLICT (run, shard_id) DO UPDATE SET shard = EXCLUDED.shard,
    attempt = EXCLUDED.attempt, not_before = EXCLUDED.not_before,
    leased_to = EXCLUDED.leased_to, updated_at = now()
"""
_DONE = "DELETE FROM crawl_frontier_shards WHERE run = %s AND shard_id = ANY(%s)"
_GET_RUN = "SELECT run, continuous, counts FROM crawl_frontier_runs WHERE run = %s"
_GET_EVENTS = """
SELECT spider, source_event_id, starts_at, due_at, last_low, crawls, listings
FROM crawl_frontier_events WHERE run = %s
"""
_GET_SHARDS = """
SELECT shard_id, shard, attempt, not_before, leased_to FROM crawl_frontier_shards
WHERE run = %s ORDER BY updated_at
"""
_DROP = "DELETE FROM crawl_frontier_runs WHERE run = %s"


@dataclasses.dataclass(slots=True)
class FrontierEvent:
    spider: str
    source_event_id: str
    starts_at: datetime | None
    due_at: datetime
    last_low: int | None = None
    crawls: int = 0
    listings: int | None = None  # at its last crawl (None: unknown)


@dataclasses.dataclass(slots=True)
class FrontierShard:
    shard_id: str
    shard: dict[str, Any]  # the shard's fields, JSON
    attempt: int
    not_before: datetime | None = None
    leased_to: str | None = None


@dataclasses.dataclass(slots=True)
class FrontierRun:
    run: str
    continuous: bool
    counts: dict[str, int]


@dataclasses.dataclass(slots=True)
class SavedFrontier:
    run: FrontierRun
    events: list[FrontierEvent]
    shards: list[FrontierShard]


def save_frontier(conn: psycopg.Connection, run: str, *, continuous: bool,
                  counts: dict[str, int], events: list[FrontierEvent],
                  shards: list[FrontierShard], done: list[str]) -> None:
    """Journal one step of a run's frontier, in one transaction."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_RUN, (run, continuous, Jsonb(counts)))
        if events:
            cur.executemany(_EVENT, [{"run": run, **dataclasses.asdict(e)} for e in events])
        if done:
            cur.execute(_DONE, (run, list(done)))
        if shards:
            cur.executemany(_SHARD, [{**dataclasses.asdict(s), "run": run,
                                      "shard": Jsonb(s.shard)} for s in shards])


def load_frontier(conn: psycopg.Connection, run: str) -> SavedFrontier | None:
    """A run's journaled frontier; None when nothing was saved for it."""
    with conn.cursor(row_factory=record_row(FrontierRun)) as cur:
        saved = cur.execute(_GET_RUN, (run,)).fetchone()
    if saved is None:
        return None
    with conn.cursor(row_factory=record_row(FrontierEvent)) as cur:
        events = cur.execute(_GET_EVENTS, (run,)).fetchall()
    with conn.cursor(row_factory=record_row(FrontierShard)) as cur:
        shards = cur.execute(_GET_SHARDS, (run,)).fetchall()
    return SavedFrontier(saved, events, shards)


def drop_frontier(conn: psycopg.Connection, run: str) -> None:
    """Forget a run's frontier (its engine stopped)."""
    conn.execute(_DROP, (run,))
