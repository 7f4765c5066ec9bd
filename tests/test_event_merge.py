"""Merging two stored events after the fact and splitting them again, through the operator
commands (``ripcity events merge`` / ``split``) on a real PostgreSQL, seen through the API
and the dashboard: watchers keep exactly one entry and their rules, old ids redirect."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.commands import ROOT, clean_env
from tests.fixtures_api import ServerThread, World, fresh_database, new_user, seed

V1 = "/api/v1"


@pytest.fixture(scope="module")
def world(api_template_db: str) -> Iterator[World]:
    with fresh_database(api_template_db) as url:
        yield seed(url, events=3, listings=20)


@pytest.fixture(scope="module")
def http(world: World) -> Iterator[httpx.Client]:
    from api.app import create_app

    with ServerThread(create_app(db_url=world.db_url)) as base, \
            httpx.Client(base_url=base, timeout=20) as client:
        yield client


def ripcity(world: World, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "engine.cli", "events", *args], cwd=ROOT,
                          env=clean_env(RIPCITY_DATABASE_URL=world.db_url),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def state(world: World, user_id: int) -> dict[str, Any]:
    with psycopg.connect(world.db_url) as conn:
        watches = conn.execute("SELECT id, event_id FROM watchlists WHERE user_id = %s "
                               "ORDER BY id", (user_id,)).fetchall()
        rules = conn.execute("SELECT id, event_id, watchlist_id, threshold_cents FROM "
                             "alert_rules WHERE user_id = %s ORDER BY id", (user_id,)).fetchall()
    return {"watches": watches, "rules": rules}


def listings_of(world: World, event_id: int) -> int:
    with psycopg.connect(world.db_url) as conn:
        return conn.execute("SELECT count(*) FROM listings_current WHERE event_id = %s",
                            (event_id,)).fetchone()[0]  # type: ignore[index]


def test_merge_moves_everything_once_redirects_and_a_split_undoes_it(
        http: httpx.Client, world: World) -> None:
    a, b = world.event_ids[0], world.event_ids[1]
    alice, bob = new_user(http), new_user(http)
    ha, hb = alice["headers"], bob["headers"]
    for eid in (a, b):  # alice watches both, with the same rule on each
        assert http.post(f"{V1}/watchlists", headers=ha, json={
            "kind": "event", "event_id": eid}).status_code == 201
        assert http.post(f"{V1}/alert-rules", headers=ha, json={
            "kind": "price_at_or_below", "event_id": eid, "max_price_cents": 9_000,
            "channels": ["email"]}).status_code == 201
    assert http.post(f"{V1}/watchlists", headers=hb, json={
        "kind": "event", "event_id": b}).status_code == 201
    assert http.post(f"{V1}/alert-rules", headers=hb, json={
        "kind": "price_at_or_below", "event_id": b, "max_price_cents": 7_000,
        "channels": ["email"]}).status_code == 201
    before = {"a": listings_of(world, a), "b": listings_of(world, b),
              "alice": state(world, alice["id"]), "bob": state(world, bob["id"])}

    out = ripcity(world, "merge", str(a), str(b), "--reason", "the same show")
    assert f"merged event {b} into {a}" in out

    assert listings_of(world, a) == before["a"] + before["b"] and listings_of(world, b) == 0
    detail = http.get(f"{V1}/events/{a}").json()
    assert len(detail["links"]) == 4  # both events' marketplace links
    after = state(world, alice["id"])
    assert [e for _, e in after["watches"]] == [a]  # one entry, not two
    assert [(e, t) for _, e, _, t in after["rules"]] == [(a, 9_000)]  # one rule, not two
    bob_after = state(world, bob["id"])
    assert [e for _, e in bob_after["watches"]] == [a]
    assert [(e, t) for _, e, _, t in bob_after["rules"]] == [(a, 7_000)]
    watched = http.get(f"{V1}/watchlists", headers=hb).json()["items"]
    assert [w["event_id"] for w in watched] == [a]

    old = http.get(f"{V1}/events/{b}?x=1")
    assert old.status_code == 308 and old.headers["location"] == f"{V1}/events/{a}?x=1"
    assert http.get(f"{V1}/events/{b}", follow_redirects=True).json()["id"] == a
    page = http.get(f"/events/{b}")
    assert page.status_code == 308 and page.headers["location"] == f"/events/{a}"
    assert http.get(f"{V1}/events/999999").status_code == 404
    why = ripcity(world, "why", str(b))
    assert f"merged into event {a}" in why and "the same show" in why

    out = ripcity(world, "split", str(a), f"seatgeek:seatgeek-{b}",
                  f"ticketmaster:ticketmaster-{b}")
    assert f"into event {b}" in out  # the merged-away id comes back
    assert listings_of(world, a) == before["a"] and listings_of(world, b) == before["b"]
    assert http.get(f"{V1}/events/{b}").status_code == 200
    assert state(world, alice["id"]) == before["alice"]
    assert state(world, bob["id"]) == before["bob"]


def test_bad_operator_input_is_one_clear_line(world: World) -> None:
    a = world.event_ids[2]
    for args, says in [(["merge", str(a), str(a)], "cannot be merged into itself"),
                       (["merge", str(a), "987654"], "event 987654 does not exist"),
                       (["split", str(a), "stubhub:nope"], f"event {a} has no source stubhub"),
                       (["split", str(a), f"seatgeek:seatgeek-{a}",
                         f"ticketmaster:ticketmaster-{a}"], "at least one source"),
                       (["split", str(a), "no-colon"], "MARKETPLACE:SOURCE_EVENT_ID")]:
        done = subprocess.run([sys.executable, "-m", "engine.cli", "events", *args], cwd=ROOT,
                              env=clean_env(RIPCITY_DATABASE_URL=world.db_url),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode != 0 and says in done.stdout + done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
