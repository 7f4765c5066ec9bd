"""The API reads from a real streaming replica (``RIPCITY_DATABASE_READ_URLS``).

A primary and a ``pg_basebackup -R`` replica are started for this module
(``tests/fixtures_replica.py``). Which server answered is told by data: with the replica's
replay paused, a row written straight into the primary is missing from what the replica
serves. Reads go to the replica while it is within the lag bound, a caller who just wrote
reads their own write from the primary, a lagging or stopped replica is skipped (the
primary answers, never a 5xx), and it serves again once it has caught up or restarted. The
dashboard's pages read the same way as the REST API, and a replica that dies under a
running query costs that request nothing: it is answered again from the primary.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.fixtures_api import ServerThread, dashboard_user, new_user, seed
from tests.fixtures_replica import ReplicatedPostgres, replicated_pg  # noqa: F401
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
MAX_LAG_S = 4
READ_YOUR_WRITES_S = 3


@pytest.fixture(scope="module")
def site(replicated_pg: ReplicatedPostgres) -> Iterator[dict[str, Any]]:  # noqa: F811
    from api.app import create_app
    from engine.settings import load_settings
    from storage.migrate import migrate

    pg, name = replicated_pg, f"ripcity_repl_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg.primary_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    primary, replica = pg.url(pg.primary_port, name), pg.url(pg.replica_port, name)
    with psycopg.connect(primary) as conn:
        migrate(conn)
    world = seed(primary, events=3, listings=20)
    pg.wait_caught_up(name)
    settings = load_settings(RIPCITY_DATABASE_READ_URLS=replica,
                             RIPCITY_REPLICA_MAX_LAG_S=str(MAX_LAG_S),
                             RIPCITY_READ_YOUR_WRITES_S=str(READ_YOUR_WRITES_S))
    with ServerThread(create_app(settings, db_url=primary)) as base, \
            httpx.Client(base_url=base, timeout=30) as http:
        yield {"http": http, "pg": pg, "db": name, "primary": primary, "world": world}


def _watched(http: httpx.Client, user: dict[str, Any]) -> set[int]:
    """The user's watched events, asked as an API client with no cookies."""
    r = httpx.get(http.base_url.join("/api/v1/watchlists"), headers=user["headers"],
                  timeout=30)
    assert r.status_code == 200, r.text
    return {w["event_id"] for w in r.json()["items"]}


def _replica_check(http: httpx.Client) -> str:
    r = http.get("/readyz")
    assert r.status_code == 200, r.text  # replicas never make the API "not ready"
    return next(v for k, v in r.json()["checks"].items() if k.startswith("replica "))


def _fresh_replica(site: dict[str, Any]) -> None:
    """Replica caught up just now (its last replayed commit is new: lag starts at 0)."""
    with psycopg.connect(site["primary"], autocommit=True) as conn:
        conn.execute("UPDATE users SET email = email WHERE id = (SELECT min(id) FROM users)")
    site["pg"].wait_caught_up(site["db"])


def test_reads_use_the_replica_a_writer_reads_its_writes_a_lagging_replica_is_skipped(
        site: dict[str, Any]) -> None:
    http, pg, db = site["http"], site["pg"], site["db"]
    first, second, third = site["world"].event_ids[:3]
    reader, writer = new_user(http), new_user(http)
    time.sleep(READ_YOUR_WRITES_S + 0.5)  # their sign-up writes no longer pin them
    wait_until(lambda: _replica_check(http).startswith("ok"), timeout=20)

    _fresh_replica(site)
    pg.pause_replay(db)
    try:
        with psycopg.connect(site["primary"], autocommit=True) as conn:  # behind the API
            conn.execute("INSERT INTO watchlists (user_id, event_id) VALUES (%s, %s)",
                         (reader["id"], first))
        r = http.post("/api/v1/watchlists", headers=writer["headers"],
                      json={"kind": "event", "event_id": second})
        assert r.status_code == 201, r.text  # writes go to the primary
        assert "ripcity_ryw" in r.cookies  # a browser keeps reading the primary a while
        assert _watched(http, writer) == {second}  # read-your-writes: from the primary
        assert first not in _watched(http, reader)  # from the paused replica

        # lag passes the bound: the replica is skipped, the primary serves the reader
        wait_until(lambda: first in _watched(http, reader), timeout=MAX_LAG_S + 20)
        assert "lagging" in _replica_check(http)
    finally:
        pg.resume_replay(db)
    wait_until(lambda: _replica_check(http).startswith("ok"), timeout=20)

    # back on the replica, which has caught up: everything is there, nothing twice
    _fresh_replica(site)
    pg.pause_replay(db)
    try:
        with psycopg.connect(site["primary"], autocommit=True) as conn:
            conn.execute("INSERT INTO watchlists (user_id, event_id) VALUES (%s, %s)",
                         (reader["id"], third))
        assert _watched(http, reader) == {first}  # the replica again: not yet `third`
    finally:
        pg.resume_replay(db)
    wait_until(lambda: _watched(http, reader) == {first, third}, timeout=20)


def _page(base: httpx.URL, path: str, client: httpx.Client | None = None) -> str:
    """A dashboard page as a browser gets it (anonymous unless ``client`` is signed in)."""
    r = (client or httpx).get(str(base.join(path)), timeout=30)  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text[:500]
    return r.text


def test_dashboard_pages_read_the_replica_and_a_writer_sees_their_write_at_once(
        site: dict[str, Any]) -> None:
    http, pg, db = site["http"], site["pg"], site["db"]
    base, event = http.base_url, site["world"].event_ids[1]
    browser, csrf, _ = dashboard_user(str(base))
    time.sleep(READ_YOUR_WRITES_S + 0.5)  # their sign-up no longer pins them to the primary
    wait_until(lambda: _replica_check(http).startswith("ok"), timeout=20)
    renamed = f"Renamed {uuid.uuid4().hex[:8]}"

    _fresh_replica(site)
    pg.pause_replay(db)
    try:
        with psycopg.connect(site["primary"], autocommit=True) as conn:  # behind the API
            (old,) = conn.execute("UPDATE events e SET name = %s FROM events o "
                                  "WHERE e.id = %s AND o.id = e.id RETURNING o.name",
                                  (renamed, event)).fetchone() or ("",)
        page = _page(base, f"/events/{event}")  # a visitor's page: from the paused replica
        assert old in page and renamed not in page

        r = browser.post("/watchlists", data={"csrf": csrf, "kind": "event",
                                              "event_id": str(event), "back": "/alerts"})
        assert r.status_code == 303, r.text  # the user adds the event on the dashboard:
        assert renamed in _page(base, "/alerts", browser)  # their pages read the primary
        assert renamed in _page(base, f"/events/{event}", browser)

        # lag passes the bound: the replica is skipped, the primary serves the visitor
        wait_until(lambda: renamed in _page(base, f"/events/{event}"),
                   timeout=MAX_LAG_S + 20)
        assert "lagging" in _replica_check(http)
    finally:
        pg.resume_replay(db)
        browser.close()
    wait_until(lambda: _replica_check(http).startswith("ok"), timeout=20)
    assert renamed in _page(base, f"/events/{event}")  # the replica, caught up


def _waiting_on_replica(site: dict[str, Any]) -> list[int]:
    """The replica's backends of this database blocked on a lock (the primary's, replayed)."""
    with psycopg.connect(site["pg"].url(site["pg"].replica_port, site["db"]),
                         autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND wait_event_type = 'Lock'")]


def test_a_replica_failing_during_a_query_is_retried_once_on_the_primary(
        site: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    """The API's replica backends are terminated while their queries run (they have been
    checked out and sent, and wait on a table lock the primary holds): the page and the
    REST read are answered from the primary, once, and one warning line says so."""
    http, pg, db = site["http"], site["pg"], site["db"]
    base, event = http.base_url, site["world"].event_ids[2]
    wait_until(lambda: _replica_check(http).startswith("ok"), timeout=30)
    with psycopg.connect(site["primary"], autocommit=True) as conn:
        (name,) = conn.execute("SELECT name FROM events WHERE id = %s",
                               (event,)).fetchone() or ("",)
    results: dict[str, httpx.Response] = {}

    def fetch(key: str, path: str) -> None:
        results[key] = httpx.get(str(base.join(path)), timeout=60)

    calls = [threading.Thread(target=fetch, args=(key, path)) for key, path in (
        ("page", f"/events/{event}"),
        ("rest", f"/api/v1/events?limit=2&q={uuid.uuid4().hex}"))]  # uncached
    with caplog.at_level(logging.WARNING, logger="api.lib.replicas"), \
            psycopg.connect(site["primary"]) as locker:
        locker.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")  # replayed on the replica
        locker.execute("SELECT pg_switch_wal()")  # ship the lock record now
        # the lock replayed on the replica before the reads start, and its lag fresh (under
        # load, reads sent before the replay ran unblocked, or after the lag bound went to
        # the primary, and none ever waited on the replica)
        _fresh_replica(site)
        for call in calls:
            call.start()
        pids = wait_until(lambda: len(_waiting_on_replica(site)) >= 2 and
                          _waiting_on_replica(site), timeout=30)
        with psycopg.connect(pg.url(pg.replica_port, db), autocommit=True) as replica:
            for pid in pids:
                replica.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_until(lambda: not set(pids) & set(_waiting_on_replica(site)), timeout=30)
        locker.rollback()  # the retries, now waiting on the primary, go on
        for call in calls:
            call.join(timeout=60)
    assert results["page"].status_code == 200, results["page"].text[:500]
    assert name in results["page"].text
    assert results["rest"].status_code == 200, results["rest"].text
    assert results["rest"].json()["items"] == []
    retried = [r.getMessage() for r in caplog.records if "retrying it once" in r.getMessage()]
    assert len(retried) == 2, retried
    assert any(f"GET /events/{event}" in m for m in retried)
    assert any("GET /api/v1/events" in m for m in retried)
    wait_until(lambda: _replica_check(http).startswith("ok"), timeout=30)  # back in use


def test_a_stopped_replica_is_skipped_without_errors_and_used_again_after_restart(
        site: dict[str, Any]) -> None:
    http, pg = site["http"], site["pg"]
    user = new_user(http)
    event = site["world"].event_ids[0]
    r = http.post("/api/v1/watchlists", headers=user["headers"],
                  json={"kind": "event", "event_id": event})
    assert r.status_code == 201, r.text
    pg.stop_replica()
    try:
        for _ in range(5):  # no 5xx while the replica is down: the primary answers
            assert _watched(http, user) == {event}
            r = httpx.get(http.base_url.join("/api/v1/events"), timeout=30,
                          params={"limit": 2, "q": uuid.uuid4().hex})  # uncached, public
            assert r.status_code == 200, r.text
            _page(http.base_url, f"/events/{event}")  # and the dashboard's pages
            _page(http.base_url, "/")
        wait_until(lambda: "skipped" in _replica_check(http), timeout=10)
    finally:
        pg.start_replica()
    wait_until(lambda: _replica_check(http).startswith("ok"), timeout=30)
    assert _watched(http, user) == {event}
