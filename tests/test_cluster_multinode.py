"""``ripcity run --once --ray-address`` on a real multi-node Ray cluster on this machine.

The cluster (``bench.cluster``) is a head, a crawl and an ingest node, each a ``ray start``
of its own with its node type's resources read from ``ray_cluster.yaml``. What runs where is
read from the operating system: every process of a node runs under that node's ``ray start``,
and Ray titles an actor's process ``ray::<ActorClass>``. The results are graded against the
sandbox's truth (the sandbox's world is a function of its seed and size: the test builds the
same one the run crawled).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from bench.cluster import DRIVER_ENV, LocalRayCluster
from bench.harness import scratch_database
from bench.pipeline import compare

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
WORLD = {"RIPCITY_SANDBOX_SEED": "5", "RIPCITY_SANDBOX_EVENTS": "3",
         "RIPCITY_SANDBOX_LISTINGS_PER_EVENT": "80", "RIPCITY_SANDBOX_FAULTS": "none"}
KEYS = ("RIPCITY_TICKETMASTER_API_KEY", "RIPCITY_SEATGEEK_CLIENT_ID",
        "RIPCITY_EVENTBRITE_TOKEN", "RIPCITY_STUBHUB_TOKEN", "RIPCITY_RAY_ADDRESS")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    with LocalRayCluster({"ripcity.crawl": 1, "ripcity.ingest": 1}, cpus=1) as c:
        yield c


class PlacementRecorder:
    """Samples this machine's Ray actor processes: actor class -> node names it ran on."""

    def __init__(self, cluster: LocalRayCluster) -> None:
        self.nodes = list(cluster.nodes)
        self.seen: dict[str, set[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PlacementRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def sample(self) -> None:
        for node in self.nodes:
            for proc in node.processes():
                try:
                    cmd = proc.cmdline()
                except psutil.Error:
                    continue
                if cmd and cmd[0].startswith("ray::"):
                    role = cmd[0].removeprefix("ray::").split(".")[0].split()[0]
                    self.seen.setdefault(role, set()).add(node.name)

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            self.sample()


def test_run_once_places_each_actor_on_its_node_type_and_loses_nothing(
        cluster: LocalRayCluster, tmp_path: Path) -> None:
    from sandbox.server import start_sandbox

    with scratch_database("test_multinode") as url:
        env = {k: v for k, v in os.environ.items() if k not in KEYS}
        env.update(DRIVER_ENV, **WORLD, RIPCITY_DATABASE_URL=url,
                   RIPCITY_DATA_DIR=str(tmp_path), RIPCITY_SANDBOX_PORT="0",
                   RIPCITY_LOG_LEVEL="WARNING", RIPCITY_CRAWL_WORKERS="2")
        with PlacementRecorder(cluster) as placement:
            proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", "--once",
                                     "--ray-address", cluster.address], env=env, cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            out, _ = proc.communicate(timeout=420)
        assert proc.returncode == 0, out
        assert "crawl cycle summary" in out

        head, crawl, ingest = "ripcity.head-0", "ripcity.crawl-0", "ripcity.ingest-0"
        assert placement.seen.get("CrawlCoordinator") == {head}, placement.seen
        assert placement.seen.get("CrawlWorker") == {crawl}, placement.seen
        for role in ("IngestWriter", "DealScorerActor", "ChangeRelay"):
            assert placement.seen.get(role) == {ingest}, (role, placement.seen)
        # the driver (the API, the refresh listener, maintenance) attached to the head's
        # raylet: its core-worker log is in the head node's session, nowhere else
        driver_logs = {n.name for n in cluster.nodes
                       if list(n.temp_dir.glob(f"session_*/logs/python-core-driver-*_{proc.pid}"
                                               ".log"))}
        assert driver_logs == {head}

        sandbox = start_sandbox(port=0, seed=5, events=3, listings_per_event=80,
                                faults="none", clock_speed=0.0)
        try:
            with psycopg.connect(url) as conn:
                check = compare(conn, sandbox.base_url)
        finally:
            sandbox.stop()
    assert check["expected"] > 50
    assert check == {**check, "lost": 0, "unexpected": 0, "duplicated": 0}
