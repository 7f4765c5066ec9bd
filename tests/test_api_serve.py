"""``ripcity serve`` on a fresh data directory with nothing configured: it starts the
embedded PostgreSQL, migrates it and serves the API with several workers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from bench.harness import free_port

pytestmark = pytest.mark.slow


def test_serve_on_the_embedded_default() -> None:
    from storage.embedded import stop_embedded

    root = Path(tempfile.mkdtemp(prefix="ripcity-serve-"))  # the server's user must reach it
    data = root / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RIPCITY_") and not k.startswith("STRIPE_")}
    env.update(RIPCITY_DATA_DIR=str(data), RIPCITY_EMBEDDED_PG_PORT=str(free_port()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        deadline, ready = time.monotonic() + 180, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert ready is not None and ready.status_code == 200, proc.stdout and proc.stdout.read()
        events = httpx.get(f"http://127.0.0.1:{port}/api/v1/events")
        assert events.status_code == 200 and events.json()["items"] == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        stop_embedded(data)
        shutil.rmtree(root, ignore_errors=True)
