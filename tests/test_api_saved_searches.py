"""Saved searches over REST: CRUD with validation, ownership, the plan limit, opening one
(its events, what is new since last looked), and the alert matcher's SQL on a real batch."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from api.plans import FREE
from tests.fixtures_api import listing_batch, new_user

V1 = "/api/v1"


@pytest.fixture()
def alice(http):
    return new_user(http)


def test_saved_search_crud_and_open(http, api_world, alice):
    h = alice["headers"]
    body = {"name": "Blazers under $300", "q": "Blazers", "max_price_cents": 30_000,
            "quantity": 2, "sort": "price", "alert_listings": True}
    made = http.post(f"{V1}/saved-searches", headers=h, json=body)
    assert made.status_code == 201, made.text
    saved = made.json()
    assert saved["q"] == "Blazers" and saved["quantity"] == 2 and saved["channels"] == ["email"]
    assert saved["new_events"] == 0  # everything existed before it was saved

    opened = http.get(saved["results_url"], headers=h)
    assert opened.status_code == 200
    names = [e["name"] for e in opened.json()["items"]]
    assert names and all("Trail Blazers" in n for n in names)
    # the same search through GET /events finds the same events
    direct = http.get(f"{V1}/events", params={"q": "Blazers", "max_price": 30_000,
                                                "quantity": 2, "sort": "price"}).json()
    assert [e["id"] for e in direct["items"]] == [e["id"] for e in opened.json()["items"]]

    # a new matching event shows as new until the search is opened again
    with psycopg.connect(api_world.db_url) as conn:
        (eid,) = conn.execute(
            """INSERT INTO events (name, starts_at, venue_id, category, performers)
               VALUES ('Portland Trail Blazers vs. Utah Jazz', now() + interval '20 days',
                       %s, 'basketball', '{Portland Trail Blazers,Utah Jazz}')
               RETURNING id""", (api_world.venue_ids[0],)).fetchone()
    listed = http.get(f"{V1}/saved-searches", headers=h).json()["items"]
    assert [s["new_events"] for s in listed] == [1]
    again = http.get(saved["results_url"], headers=h).json()
    assert again["saved_search"]["new_events"] == 1
    assert http.get(f"{V1}/saved-searches/{saved['id']}", headers=h).json()["new_events"] == 0
    assert eid not in again["new_event_ids"] or eid in [e["id"] for e in again["items"]]

    patched = http.patch(f"{V1}/saved-searches/{saved['id']}", headers=h,
                         json={"name": "Blazers, any price", "max_price_cents": None})
    assert patched.status_code == 200
    assert patched.json()["max_price_cents"] is None
    assert patched.json()["name"] == "Blazers, any price"
    assert http.delete(f"{V1}/saved-searches/{saved['id']}", headers=h).status_code == 204
    assert http.get(f"{V1}/saved-searches/{saved['id']}", headers=h).status_code == 404


def test_saved_search_validation_and_ownership(http, api_world, alice):
    h = alice["headers"]
    bad = [
        ({"q": "x"}, "name"),
        ({"name": "n", "quantity": 0}, "quantity"),
        ({"name": "n", "min_price_cents": 500, "max_price_cents": 100}, "max_price_cents"),
        ({"name": "n", "starts_after": "2027-01-02T00:00:00Z",
          "starts_before": "2027-01-01T00:00:00Z"}, "starts_before"),
        ({"name": "n", "venue_id": 999999}, "venue_id"),
        ({"name": "n", "colour": "red"}, None),
    ]
    for payload, field in bad:
        r = http.post(f"{V1}/saved-searches", headers=h, json=payload)
        assert r.status_code in (400, 422), (payload, r.status_code, r.text)
        if field:
            assert field in r.text, (payload, r.text)
    sms = http.post(f"{V1}/saved-searches", headers=h,
                    json={"name": "n", "channels": ["sms"], "alert_new_events": True})
    assert sms.status_code == 403, sms.text
    mine = http.post(f"{V1}/saved-searches", headers=h, json={"name": "mine"}).json()
    bob = new_user(http)
    assert http.get(f"{V1}/saved-searches/{mine['id']}",
                    headers=bob["headers"]).status_code == 404
    assert http.delete(f"{V1}/saved-searches/{mine['id']}",
                       headers=bob["headers"]).status_code == 404
    assert http.get(f"{V1}/saved-searches").status_code == 401


def test_free_plan_saved_search_limit(http, api_world):
    user = new_user(http)
    h = user["headers"]
    for i in range(FREE.max_saved_searches):
        assert http.post(f"{V1}/saved-searches", headers=h,
                         json={"name": f"s{i}"}).status_code == 201
    over = http.post(f"{V1}/saved-searches", headers=h, json={"name": "one too many"})
    assert over.status_code == 403, over.text
    assert "saved searches" in over.json()["detail"]


def test_saved_search_alerts_once_per_listing_price_never_for_existing(http, api_world):
    """The matcher's SQL on real batches: existing listings never alert, a new qualifying
    listing alerts once, a replay does not, a cheaper price of it alerts again."""
    from engine.alerts.matcher import match
    from storage.ingest import write_snapshots

    user = new_user(http)
    h = user["headers"]
    saved = http.post(f"{V1}/saved-searches", headers=h, json={
        "name": "cheap Blazers", "q": "Trail Blazers", "max_price_cents": 6_000,
        "alert_listings": True, "alert_new_events": True}).json()
    with psycopg.connect(api_world.db_url) as conn:
        sid = conn.execute("""SELECT es.source_event_id FROM event_sources es
            JOIN events e ON e.id = es.event_id WHERE e.id = %s AND es.marketplace = 'seatgeek'
            """, (api_world.event_ids[0],)).fetchone()[0]
        # the same listings again, nothing new: no alert
        same = write_snapshots(conn, listing_batch(sid, "seatgeek", api_world.listings_per_event))
        conn.commit()
        assert match(conn, same)["matches"] == 0
        fresh = listing_batch(sid, "seatgeek", 1, start=10_000, price_shift=-10_000)
        res = write_snapshots(conn, fresh)
        conn.commit()
        got = match(conn, res)
        assert got["matches"] >= 1
        keys = [r[0] for r in conn.execute(
            "SELECT dedupe_key FROM alert_matches WHERE saved_search_id = %s",
            (saved["id"],)).fetchall()]
        assert len(keys) == 1 and keys[0].startswith(f"s{saved['id']}:seatgeek:")
        assert match(conn, res)["matches"] == 0  # replayed batch: deduped
        outbox = conn.execute("SELECT payload FROM alert_outbox WHERE saved_search_id = %s",
                              (saved["id"],)).fetchall()
        assert len(outbox) == 1
        item = outbox[0][0]["matches"][0]
        assert item["kind"] == "saved_search_listing"
        assert item["saved_search_name"] == "cheap Blazers"
        cheaper = write_snapshots(conn, listing_batch(
            sid, "seatgeek", 1, start=10_000, price_shift=-10_500,
            observed_at=datetime.now(UTC)))
        conn.commit()
        assert match(conn, cheaper)["matches"] == 1
