"""``ripcity serve`` on a fresh data directory with nothing configured: it starts the
embedded PostgreSQL, migrates it, serves the API with one worker or several, and a signal
(SIGTERM from ``kill`` or a supervisor, Ctrl-C's SIGINT to the whole process group) stops
it cleanly: exit 0, "stopped cleanly", no worker and no PostgreSQL left running."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from bench.harness import free_port
from engine.cli.stopping import STOPPED_CLEANLY
from tests.commands import Command, clean_env, still_running
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(embedded_data_dir: Path) -> Path:
    return embedded_data_dir


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize(("workers", "signum", "to_group"), [
    (1, signal.SIGTERM, False),  # uvicorn alone would re-raise it: exit 143, PG left
    (3, signal.SIGTERM, False),
    (2, signal.SIGINT, True),  # Ctrl-C in a terminal: every process of the group gets it
], ids=["1-worker-SIGTERM", "3-workers-SIGTERM", "2-workers-Ctrl-C"])
def test_serve_on_the_embedded_default_stops_cleanly(data_dir: Path, workers: int,
                                                     signum: int, to_group: bool) -> None:
    port = free_port()
    cmd = Command("serve", "--port", str(port), "--workers", str(workers),
                  env=clean_env(RIPCITY_DATA_DIR=str(data_dir)), data_dir=data_dir)
    try:
        base = cmd.wait_for(r"dashboard: (http://\S+)/ ").group(1)
        assert base == f"http://127.0.0.1:{port}"
        wait_until(lambda: _ready(base), timeout=120, message="the API never got ready")
        events = httpx.get(f"{base}/api/v1/events")
        assert events.status_code == 200 and events.json()["items"] == []

        family = cmd.family()
        names = [p.name() for p in family]
        assert any("postgres" in n for n in names), names
        if workers > 1:
            assert len([p for p in family if "python" in p.name()]) >= workers, names
        if to_group:
            import os

            os.killpg(cmd.proc.pid, signum)
        else:
            cmd.signal(signum)
        code, out = cmd.finish(60)
        assert code == 0, out
        assert out.rstrip().splitlines()[-1] == STOPPED_CLEANLY, out
        assert "Traceback" not in out
        assert still_running(family) == []
    finally:
        cmd.kill()
