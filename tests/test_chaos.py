"""Chaos: kill -9 each kind of actor mid-run, and stop the database mid-run; the run goes on
and ends with nothing lost, duplicated, unscored or unmatched against the sandbox's truth,
and nothing of the engine left running.

One local Ray serves the module; each case crawls its own small sandbox world into its own
database. Kills are real ``SIGKILL``s of the actor's process (Ray restarts it); the outage
stops and restarts a PostgreSQL server of the test's own (the embedded binaries), never the
machine's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from bench.harness import scratch_database
from bench.pipeline import compare
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
SPIDERS = ("ticketmaster", "seatgeek", "stubhub")


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    import ray

    from engine.cluster import init_ray

    started = init_ray(num_cpus=2)
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


@contextlib.contextmanager
def _sandbox() -> Iterator[Any]:
    from sandbox.server import start_sandbox

    sandbox = start_sandbox(port=0, seed=23, events=6, listings_per_event=300,
                            faults="none", clock_speed=0.0)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _session(url: str, sandbox: Any, **options: Any) -> Any:
    from engine.session import engine_session
    from engine.settings import load_settings

    options.setdefault("spiders", SPIDERS)
    # small shards and chunks, so every kill lands in the middle of the crawl
    options.setdefault("chunk_rows", 300)
    options.setdefault("events_per_shard", 1)
    return engine_session(load_settings(), database_url=url, sandbox=sandbox, **options)


def _pids(engine: Any) -> list[int]:
    """Every actor's process id (waiting for a restarted one to come back)."""
    import ray

    handles = [*engine.workers, *engine.writers, *engine.scorers, *engine.relays,
               engine.coordinator]

    def ask() -> list[int] | None:
        try:
            return [int(p) for p in ray.get([h.pid.remote() for h in handles], timeout=10)]
        except Exception:  # still restarting
            return None

    return wait_until(ask, 120, 0.5, "an actor did not come back")


def _kill_mid_run(engine: Any, victim: Callable[[], Any], *, after: int = 600
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One crawl cycle in a thread; once ``after`` listings are committed, SIGKILL
    ``victim()``'s process. The driver keeps polling ``status`` all along (as ``ripcity
    run``'s status line does): returns the cycle's summary and every status seen."""
    import ray

    done: dict[str, Any] = {}
    failure: list[BaseException] = []

    def cycle() -> None:
        try:
            done.update(engine.run_cycle(timeout=300))
        except BaseException as err:  # surfaced below
            failure.append(err)

    runner = threading.Thread(target=cycle)
    runner.start()
    statuses: list[dict[str, Any]] = []

    def progressed() -> bool:
        statuses.append(engine.status())
        return statuses[-1].get("committed_listings", 0) >= after

    wait_until(progressed, 120, 0.05, "the crawl made no progress")
    assert runner.is_alive(), "the crawl finished before anything could be killed"
    pid = int(ray.get(victim().pid.remote(), timeout=30))
    os.kill(pid, signal.SIGKILL)
    while runner.is_alive():  # the status line must never crash the driver
        statuses.append(engine.status())
        runner.join(0.5)
    assert not failure, f"the cycle raised: {failure[0]!r}"
    assert done, "the cycle did not finish"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    return done, statuses


def _assert_whole(url: str, sandbox: Any, summary: dict[str, Any]) -> None:
    with psycopg.connect(url) as conn:
        check = compare(conn, sandbox.base_url, SPIDERS)
    assert check["expected"] > 1000
    assert (check["lost"], check["duplicated"], check["unexpected"], check["unscored"],
            check["unmatched"]) == (0, 0, 0, 0, 0), check
    assert summary.get("failed", 0) == 0
    # the summary's counts are the database's
    assert summary["live"] == check["stored"] and summary["unscored"] == 0


def _assert_nothing_left(pids: list[int]) -> None:
    def gone() -> bool:
        return not any(psutil.pid_exists(p) and psutil.Process(p).status()
                       != psutil.STATUS_ZOMBIE for p in pids)

    wait_until(gone, 30, 0.2, f"engine processes still running: {pids}")


@pytest.mark.parametrize("kind", ["crawl_worker", "ingest_writer", "scorer", "coordinator"])
def test_a_killed_actor_loses_duplicates_and_leaves_undone_nothing(
        ray_address: str, kind: str) -> None:
    with scratch_database("test_chaos") as url, _sandbox() as sandbox:
        # the crawl worker dies under a continuous engine (``ripcity run``: the planning
        # ticker on, the status line polled), the others under one cycle
        with _session(url, sandbox, continuous=kind == "crawl_worker") as session:
            engine = session.engine
            victim = {"crawl_worker": lambda: engine.workers[0],
                      "ingest_writer": lambda: engine.writers[0],
                      "scorer": lambda: engine.scorers[0],
                      "coordinator": lambda: engine.coordinator}[kind]
            summary, _ = _kill_mid_run(engine, victim)
            pids = _pids(engine)
            if kind == "coordinator":  # it came back and resumed its journaled frontier
                assert summary.get("total_coordinator_restarts", 0) >= 1
                assert "restored" in summary
        _assert_whole(url, sandbox, summary)
    _assert_nothing_left(pids)


@pytest.fixture
def own_server(embedded_data_dir: Path) -> Iterator[tuple[str, Callable[[], None],
                                                          Callable[[], None]]]:
    """A PostgreSQL server of this test's own (the embedded binaries, on a Unix socket),
    migrated; yields its URL, ``stop`` and ``start``."""
    from storage.embedded import start_embedded, stop_embedded
    from storage.migrate import migrate

    port = 54000 + os.getpid() % 900
    url = start_embedded(embedded_data_dir, port)
    with psycopg.connect(url) as conn:
        migrate(conn)
    yield (url, lambda: stop_embedded(embedded_data_dir),
           lambda: start_embedded(embedded_data_dir, port) and None)


def test_a_database_outage_mid_run_loses_and_leaves_undone_nothing(
        ray_address: str, own_server: tuple[str, Callable[[], None], Callable[[], None]]
) -> None:
    url, stop_db, start_db = own_server
    with _sandbox() as sandbox, _session(url, sandbox) as session:
        engine = session.engine
        done: dict[str, Any] = {}
        failure: list[BaseException] = []

        def cycle() -> None:
            try:
                done.update(engine.run_cycle(timeout=300))
            except BaseException as err:
                failure.append(err)

        runner = threading.Thread(target=cycle)
        runner.start()
        wait_until(lambda: engine.status().get("committed_listings", 0) >= 600, 120, 0.05,
                   "the crawl made no progress")
        assert runner.is_alive(), "the crawl finished before the database could stop"
        stop_db()
        outage_end = time.monotonic() + 8
        while time.monotonic() < outage_end:  # the status line carries on meanwhile
            engine.status()
            time.sleep(0.5)
        start_db()
        runner.join(300)
        assert not failure, f"the cycle raised: {failure[0]!r}"
        assert done, "the cycle did not finish after the outage"
        pids = _pids(engine)
        _assert_whole(url, sandbox, done)
    _assert_nothing_left(pids)
