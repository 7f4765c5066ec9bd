"""Two ``ripcity serve`` processes on one Redis behave as one service.

A Redis of the test's own (``redis-server`` on a free port: nobody else's keys) and one
database; two ``ripcity serve`` commands on two ports. A rate limit is one limit across both
processes, a response cached by one is served by the other, and an ingest (its ``NOTIFY``)
drops the cached response for both.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bench.harness import free_port
from tests.commands import Command, clean_env
from tests.fixtures_api import INBOX, fresh_database, listing_batch, new_user, seed
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port, workdir = free_port(), tempfile.mkdtemp(prefix="ripcity-redis-")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"],
                                          capture_output=True).stdout.strip() == b"PONG",
                   timeout=20)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def two_servers(api_template_db: str, redis_url: str) -> Iterator[dict[str, Any]]:
    with fresh_database(api_template_db) as url, contextlib.ExitStack() as stack:
        world = seed(url, events=2, listings=10)
        bases = []
        for _ in range(2):
            port = free_port()
            data = Path(tempfile.mkdtemp(prefix="ripcity-serve-"))
            stack.callback(shutil.rmtree, data, True)
            cmd = Command("serve", "--port", str(port),
                          env=clean_env(RIPCITY_DATABASE_URL=url, RIPCITY_REDIS_URL=redis_url,
                                        RIPCITY_DATA_DIR=str(data),
                                        # account emails to the session's inbox
                                        RIPCITY_SMTP_HOST="127.0.0.1",
                                        RIPCITY_SMTP_PORT=str(INBOX[0].port)))
            stack.callback(cmd.kill)
            bases.append(f"http://127.0.0.1:{port}")
            wait_until(lambda b=bases[-1]: _ready(b), timeout=120,
                       message="ripcity serve never got ready")
        yield {"bases": bases, "url": url, "world": world}


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _event_name(base: str, event_id: int) -> str:
    r = httpx.get(f"{base}/api/v1/events/{event_id}", timeout=20)
    assert r.status_code == 200, r.text
    return str(r.json()["name"])


def test_a_rate_limit_is_one_limit_across_processes(two_servers: dict[str, Any]) -> None:
    a, b = two_servers["bases"]
    # an API key of its own: the limit under test is this key's, nobody else's
    with httpx.Client(base_url=a, timeout=20) as http:
        headers = new_user(http)["headers"]
    first = httpx.get(f"{a}/api/v1/events?limit=1", headers=headers)
    left = int(first.headers["ratelimit-remaining"])
    assert left > 10
    statuses = [httpx.get(f"{(b, a)[i % 2]}/api/v1/events?limit=1", headers=headers,
                          timeout=20).status_code for i in range(left + 1)]
    # what is left of the one limit, spent on both processes; then one too many
    assert statuses[:-1] == [200] * left
    assert statuses[-1] == 429


def test_a_cached_response_is_shared_and_an_ingest_drops_it_everywhere(
        two_servers: dict[str, Any]) -> None:
    a, b = two_servers["bases"]
    url, world = two_servers["url"], two_servers["world"]
    event = world.event_ids[1]
    before = _event_name(a, event)  # computed and cached by a
    with psycopg.connect(url) as conn:  # behind the API's back: no NOTIFY for events
        conn.execute("UPDATE events SET name = name || ' (renamed)' WHERE id = %s", (event,))
    assert _event_name(b, event) == before  # b serves the response a cached

    from storage.ingest import write_snapshots

    with psycopg.connect(url) as conn:  # an ingest: its NOTIFY invalidates the event
        write_snapshots(conn, listing_batch(f"seatgeek-{event}", "seatgeek", 5, start=1000,
                                            observed_at=datetime.now(UTC)))
        conn.commit()
    wait_until(lambda: _event_name(b, event) == f"{before} (renamed)", timeout=20)
    assert _event_name(a, event) == f"{before} (renamed)"
