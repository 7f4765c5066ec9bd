"""Chaos on a real multi-node Ray cluster on this machine (``bench.cluster``: a head, two
crawl nodes and an ingest node with ``ray_cluster.yaml``'s resources): a crawl node dies
(SIGKILL of every process under it) mid-run; the run goes on on the other crawl node and
ends with nothing lost, duplicated, unscored or unmatched against the sandbox's truth.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bench.cluster import DRIVER_ENV, LocalRayCluster
from bench.harness import scratch_database
from bench.pipeline import compare
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
SPIDERS = ("ticketmaster", "seatgeek", "stubhub")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    with LocalRayCluster({"ripcity.crawl": 2, "ripcity.ingest": 1}, cpus=1) as c:
        yield c


def test_a_killed_crawl_node_loses_duplicates_and_leaves_undone_nothing(
        cluster: LocalRayCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    from engine.session import engine_session
    from engine.settings import load_settings
    from sandbox.server import start_sandbox

    for key, value in DRIVER_ENV.items():
        monkeypatch.setenv(key, value)
    sandbox = start_sandbox(port=0, seed=29, events=6, listings_per_event=300,
                            faults="none", clock_speed=0.0)
    try:
        with scratch_database("test_chaos_nodes") as url:
            with engine_session(load_settings(), database_url=url, sandbox=sandbox,
                                ray_address=cluster.address, spiders=SPIDERS,
                                chunk_rows=300, events_per_shard=1) as session:
                engine = session.engine
                done: dict[str, Any] = {}
                failure: list[BaseException] = []

                def cycle() -> None:
                    try:
                        done.update(engine.run_cycle(timeout=400))
                    except BaseException as err:
                        failure.append(err)

                runner = threading.Thread(target=cycle)
                runner.start()
                wait_until(lambda: engine.status().get("committed_listings", 0) >= 600, 180,
                           0.1, "the crawl made no progress")
                assert runner.is_alive(), "the crawl finished before the node could die"
                pid = int(ray.get(engine.workers[0].pid.remote(), timeout=30))
                node = next(n for n in cluster.nodes
                            if n.node_type == "ripcity.crawl"
                            and any(p.pid == pid for p in n.processes()))
                cluster.kill(node.name)
                while runner.is_alive():
                    engine.status()  # the status line never crashes the driver
                    runner.join(0.5)
                assert not failure, f"the cycle raised: {failure[0]!r}"
                assert done.get("failed", 0) == 0
            with psycopg.connect(url) as conn:
                check = compare(conn, sandbox.base_url, SPIDERS)
    finally:
        sandbox.stop()
    assert check["expected"] > 1000
    assert (check["lost"], check["duplicated"], check["unexpected"], check["unscored"],
            check["unmatched"]) == (0, 0, 0, 0, 0), check
