"""The engine end to end on local Ray, with the sandbox and a real PostgreSQL.

One Ray instance serves the whole module (starting Ray costs ~4 s and ~700 MB); each test
gets its own database and sandbox.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from bench.harness import scratch_database
from bench.pipeline import compare
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SPIDERS = ("ticketmaster", "seatgeek", "eventbrite", "stubhub")


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    import ray

    from engine.cluster import init_ray

    started = init_ray(num_cpus=2)
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


@contextlib.contextmanager
def _world(events: int, per_event: int) -> Iterator[tuple[str, Any]]:
    """A fresh migrated database and a sandbox of ``events`` x ``per_event`` listings."""
    from sandbox.server import start_sandbox

    with scratch_database("test_engine") as url:
        sandbox = start_sandbox(port=0, seed=11, events=events, listings_per_event=per_event,
                                faults="none", clock_speed=0.0)
        try:
            yield url, sandbox
        finally:
            sandbox.stop()


@pytest.fixture
def world() -> Iterator[tuple[str, Any]]:
    with _world(3, 120) as w:
        yield w


@pytest.fixture
def big_world() -> Iterator[tuple[str, Any]]:
    with _world(8, 500) as w:
        yield w


@pytest.fixture
def huge_world() -> Iterator[tuple[str, Any]]:
    with _world(6, 1500) as w:
        yield w


def _session(world: tuple[str, Any], **options: Any) -> Any:
    from engine.session import engine_session
    from engine.settings import load_settings

    url, sandbox = world
    options.setdefault("spiders", SPIDERS)
    options.setdefault("speed", 1e9)  # every event due again at once
    return engine_session(load_settings(), database_url=url, sandbox=sandbox, **options)


def _query(url: str, sql: str, *args: Any) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def test_a_crawl_cycle_stores_every_listing_exactly_once(
        ray_address: str, world: tuple[str, Any]) -> None:
    url, sandbox = world
    with _session(world) as session:
        summary = session.engine.run_cycle(timeout=300)
    assert summary.get("failed", 0) == 0
    with psycopg.connect(url) as conn:
        check = compare(conn, sandbox.base_url)
    assert check["expected"] > 100
    assert check["lost"] == 0 and check["duplicated"] == 0 and check["unexpected"] == 0
    snapshots = _query(url, "SELECT count(*) FROM listing_snapshots")[0][0]
    assert snapshots == check["stored"]  # one snapshot per listing after one crawl


def test_a_shard_writes_new_and_changed_events_first_and_only_touches_unchanged_ones(
        ray_address: str, db_url: str) -> None:
    """What a crawl worker's shards send a real ingest writer actor: a new or changed event
    is upserted at once (before its listings); an unchanged one whose sighting is old (a
    resolution of 0 s here: at once) only has its source's ``last_seen_at`` moved, in one
    call at the shard's end, its event row left alone."""
    import dataclasses
    from datetime import UTC, datetime, timedelta

    import ray

    from engine.actors import make_writer
    from engine.crawl.shard_events import EventPreWriter, WrittenEvents
    from storage.records import EventRecord

    start = datetime(2026, 12, 20, 3, 0, tzinfo=UTC)
    one, two = (EventRecord("seatgeek", sid, name, start, venue_name="Moda Center",
                            venue_city="Portland", observed_at=start)
                for sid, name in (("SG1", "Blazers vs. Lakers"), ("SG2", "Blazers vs. Suns")))
    writer = make_writer(db_url)
    try:
        memory = WrittenEvents(resolution_s=0)

        def rows() -> dict[str, tuple[Any, ...]]:
            return {r[0]: r[1:] for r in _query(
                db_url, "SELECT s.source_event_id, s.last_seen_at, e.xmin::text, e.starts_at "
                        "FROM event_sources s JOIN events e ON e.id = s.event_id")}

        first = EventPreWriter(lambda: writer, memory)
        first.write_new([one, two])
        first.touch_stale()  # both were written: nothing to touch
        written = rows()
        assert set(written) == {"SG1", "SG2"}

        later = EventPreWriter(lambda: writer, memory)  # the next crawl
        moved = dataclasses.replace(two, starts_at=start + timedelta(days=1))
        later.write_new([one])
        later.write_new([moved])
        pages_done = rows()
        assert pages_done["SG1"] == written["SG1"]  # the unchanged one waited for the end
        assert pages_done["SG2"][2] == moved.starts_at  # the changed one was written at once
        later.touch_stale()
        touched = rows()
        assert touched["SG1"][0] > written["SG1"][0]  # its last sighting moved
        assert touched["SG1"][1:] == written["SG1"][1:]  # its event row was not rewritten
    finally:
        ray.kill(writer)


def test_a_price_change_becomes_a_snapshot_and_a_change_event(
        ray_address: str, world: tuple[str, Any]) -> None:
    url, sandbox = world
    with _session(world, crawl_workers=1) as session:
        session.engine.run_cycle(timeout=300)
        before = session.engine.status()
        sources = _query(url, "SELECT marketplace, source_event_id, xmin::text, last_seen_at "
                              "FROM event_sources ORDER BY 1, 2")
        httpx.post(f"{sandbox.base_url}/_sandbox/clock", json={"seconds": 6 * 3600})
        session.engine.run_cycle(timeout=300)
        after = session.engine.status()
        # the events did not change: the worker that wrote them minutes ago (one here; each
        # worker remembers its own) did not write them again
        assert _query(url, "SELECT marketplace, source_event_id, xmin::text, last_seen_at "
                           "FROM event_sources ORDER BY 1, 2") == sources
    assert after["total_price_changes"] > before.get("total_price_changes", 0)
    changed = _query(url, "SELECT marketplace, listing_id, prev_total_cents, total_cents "
                          "FROM listings_current WHERE prev_total_cents IS NOT NULL")
    assert changed, "no listing records its previous price"
    market, listing, old, new = changed[0]
    history = _query(url, "SELECT total_cents FROM listing_snapshots WHERE marketplace = %s "
                          "AND listing_id = %s ORDER BY observed_at", market, listing)
    assert [r[0] for r in history][-2:] == [old, new]
    with psycopg.connect(url) as conn:
        check = compare(conn, sandbox.base_url)
    assert check["lost"] == 0 and check["unexpected"] == 0


def test_a_second_cycle_crawls_each_marketplaces_small_events_in_one_shard(
        ray_address: str, world: tuple[str, Any]) -> None:
    # one event a shard while sizes are unknown; once crawled, the events of a marketplace
    # (a few hundred listings in all) fit one write chunk, so one shard each
    url, sandbox = world
    with _session(world, events_per_shard=1) as session:
        first = session.engine.run_cycle(timeout=300)["acked"]
        httpx.post(f"{sandbox.base_url}/_sandbox/clock", json={"seconds": 3600})
        second = session.engine.run_cycle(timeout=300)["acked"] - first
    assert second <= 2 * len(SPIDERS) < first  # a discovery and a listing shard each
    with psycopg.connect(url) as conn:
        check = compare(conn, sandbox.base_url)
    assert check["lost"] == 0 and check["duplicated"] == 0 and check["unexpected"] == 0


def test_discoverys_listing_counts_size_the_first_crawls_shards(
        ray_address: str, world: tuple[str, Any]) -> None:
    # SeatGeek's event pages count each event's listings: its three events (about a hundred
    # listings) go in one shard on their first crawl, not one each
    url, sandbox = world
    with _session(world, spiders=("seatgeek",), events_per_shard=1) as session:
        summary = session.engine.run_cycle(timeout=300)
    assert summary["acked"] == 2  # the discovery shard and one listing shard
    with psycopg.connect(url) as conn:
        check = compare(conn, sandbox.base_url, ("seatgeek",))
    assert check["expected"] > 50 and check["lost"] == 0 and check["unexpected"] == 0


def test_a_refresh_request_is_crawled_on_every_marketplace_and_marked_done(
        ray_address: str, world: tuple[str, Any]) -> None:
    from engine.crawl.refresh import RefreshListener

    url, _ = world
    with _session(world) as session:
        engine = session.engine
        engine.run_cycle(timeout=300)
        event_id = _query(url, "SELECT event_id FROM event_sources GROUP BY 1 "
                               "ORDER BY count(*) DESC LIMIT 1")[0][0]
        markets = _query(url, "SELECT count(*) FROM event_sources WHERE event_id = %s",
                         event_id)[0][0]
        listener = RefreshListener(url, lambda p: engine.refresh(engine.targets_for(p)),
                                   engine.wait_shards).start()
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                request_id = conn.execute("INSERT INTO refresh_requests (event_id) VALUES "
                                          "(%s) RETURNING id", (event_id,)).fetchone()[0]

                def finished() -> str | None:
                    status = conn.execute("SELECT status FROM refresh_requests WHERE id = %s",
                                          (request_id,)).fetchone()[0]
                    return status if status in ("done", "failed") else None

                # generous: the machine may be busy
                status = wait_until(finished, 120, 0.05, "the refresh request never finished")
        finally:
            listener.stop()
        assert status == "done"
        assert engine.status()["refresh"] == markets


def _rss_mb(pids: list[int]) -> float:
    return sum(psutil.Process(p).memory_info().rss for p in pids) / 2**20


def _writes_waiting_on(url: str, table: str) -> bool:
    """True while some session waits for a lock on ``table``."""
    return bool(_query(url, "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass "
                            "AND NOT granted", table)[0][0])


def _reading_stopped(sandbox: Any) -> Callable[[], bool]:
    """A predicate that turns true once the sandbox has answered no marketplace request
    across three polls in a row (a second when polled every 0.5 s)."""
    totals: list[int] = []

    def stopped() -> bool:
        totals.append(sandbox.control("stats")["requests_total"])
        return len(totals) >= 3 and totals[-1] == totals[-3]

    return stopped


def test_killed_worker_and_writer_lose_and_duplicate_nothing(
        ray_address: str, big_world: tuple[str, Any]) -> None:
    import ray

    world = big_world
    url, sandbox = world
    with _session(world, chunk_rows=300, events_per_shard=1) as session:
        engine = session.engine
        done: dict[str, Any] = {}
        runner = threading.Thread(target=lambda: done.update(engine.run_cycle(timeout=300)))
        runner.start()
        wait_until(lambda: engine.status().get("committed_listings", 0) >= 500, 120, 0.05,
                   "the crawl made no progress")
        assert runner.is_alive(), "the crawl finished before anything could be killed"
        ray.kill(engine.workers[0], no_restart=False)
        ray.kill(engine.writers[0], no_restart=False)
        runner.join(300)
        assert done, "the cycle did not finish after the kills"
        status = engine.status()
    assert status.get("failed", 0) == 0
    with psycopg.connect(url) as conn:
        check = compare(conn, sandbox.base_url)
    assert check["lost"] == 0 and check["duplicated"] == 0 and check["unexpected"] == 0


def test_backpressure_holds_memory_flat_while_the_database_is_slow(
        ray_address: str, huge_world: tuple[str, Any]) -> None:
    import ray

    world = huge_world
    url, sandbox = world
    small = {"CONCURRENT_REQUESTS": 2, "CONCURRENT_REQUESTS_PER_DOMAIN": 2}
    with _session(world, crawl_workers=1, slots_per_worker=1, chunk_rows=500,
                  max_inflight_batches=1, queue_pages=4, extra_scrapy=small) as session:
        engine = session.engine
        pids = ray.get([w.pid.remote() for w in engine.workers + engine.writers])
        locker = psycopg.connect(url)
        locker.execute("LOCK TABLE listings_current IN ACCESS EXCLUSIVE MODE")
        done: dict[str, Any] = {}
        runner = threading.Thread(target=lambda: done.update(engine.run_cycle(timeout=300)))
        try:
            runner.start()
            wait_until(lambda: _writes_waiting_on(url, "listings_current"), 120, 0.05,
                       "no write ever reached the locked table")
            first, rss_first = engine.status()["crawled_listings"], _rss_mb(pids)
            wait_until(_reading_stopped(sandbox), 120, 0.5,
                       "the crawl kept reading while nothing could be written")
            second, rss_second = engine.status()["crawled_listings"], _rss_mb(pids)
        finally:
            locker.rollback()
            locker.close()
        runner.join(300)
        assert done, "the cycle did not finish once the database was fast again"
        total = engine.status()["committed_listings"]
    assert second - first <= 1500, "the crawl kept reading while nothing could be written"
    assert second < total / 2
    assert rss_second - rss_first < 50, "memory grew while the database was stalled"
    with psycopg.connect(url) as conn:
        check = compare(conn, sandbox.base_url)
    assert check["lost"] == 0 and check["duplicated"] == 0


def test_ripcity_run_once_exits_zero_with_a_summary(
        ray_address: str, world: tuple[str, Any], tmp_path: Path) -> None:
    url, _ = world
    env = {**os.environ, "RIPCITY_DATABASE_URL": url, "RIPCITY_DATA_DIR": str(tmp_path),
           "RIPCITY_SANDBOX_PORT": "0", "RIPCITY_SANDBOX_EVENTS": "2",
           "RIPCITY_SANDBOX_LISTINGS_PER_EVENT": "40", "RIPCITY_LOG_LEVEL": "WARNING",
           "RAY_AUTH_MODE": "disabled"}
    for key in ("RIPCITY_TICKETMASTER_API_KEY", "RIPCITY_SEATGEEK_CLIENT_ID",
                "RIPCITY_EVENTBRITE_TOKEN", "RIPCITY_STUBHUB_TOKEN"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--once",
                           "--ray-address", ray_address], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "crawl cycle summary" in proc.stdout
    assert "listings" in proc.stdout
    stored = _query(url, "SELECT count(*) FROM listings_current")[0][0]
    assert stored > 0


def test_stopping_the_engine_ends_a_cycle_waiting_in_another_thread_first(
        ray_address: str, big_world: tuple[str, Any]) -> None:
    """What ``ripcity run --once`` meets on SIGTERM: the session stops the engine while its
    cycle thread waits on Ray; Ray may shut down only once that thread has left it."""
    from engine.orchestrator import EngineStopped

    outcome: dict[str, Any] = {}
    with _session(big_world) as session:
        engine = session.engine

        def cycle() -> None:
            try:
                outcome["summary"] = engine.run_cycle(timeout=300)
            except Exception as err:
                outcome["error"] = err

        thread = threading.Thread(target=cycle, daemon=True)
        thread.start()
        wait_until(lambda: engine.status().get("crawled_listings", 0) > 0, timeout=60)
        engine.stop()
        assert not thread.is_alive()  # stop returned after the cycle gave up
    assert isinstance(outcome.get("error"), EngineStopped), outcome
