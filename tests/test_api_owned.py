"""Watchlists, alert rules and alert history: CRUD, ownership across two users, plan limits."""

from __future__ import annotations

import json

import psycopg
import pytest

from api.plans import FREE
from tests.fixtures_api import new_user

V1 = "/api/v1"


@pytest.fixture()
def alice(http):
    return new_user(http)


@pytest.fixture()
def bob(http):
    return new_user(http)


def test_watchlist_crud(http, api_world, alice):
    h = alice["headers"]
    eid, vid = api_world.event_ids[0], api_world.venue_ids[1]
    ev = http.post(f"{V1}/watchlists", headers=h, json={"kind": "event", "event_id": eid,
                                                         "note": "home opener"})
    assert ev.status_code == 201 and ev.json()["event_id"] == eid
    perf = http.post(f"{V1}/watchlists", headers=h,
                     json={"kind": "performer", "performer": "Portugal. The Man"})
    venue = http.post(f"{V1}/watchlists", headers=h, json={"kind": "venue", "venue_id": vid})
    assert perf.status_code == venue.status_code == 201
    dup = http.post(f"{V1}/watchlists", headers=h, json={"kind": "event", "event_id": eid})
    assert dup.status_code == 409
    wrong = http.post(f"{V1}/watchlists", headers=h, json={"kind": "venue", "event_id": eid})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "venue_id"
    missing = http.post(f"{V1}/watchlists", headers=h, json={"kind": "event",
                                                              "event_id": 999999})
    assert missing.status_code == 422
    extra = http.post(f"{V1}/watchlists", headers=h, json={"kind": "event", "event_id": eid,
                                                            "colour": "red"})
    assert extra.status_code == 422

    items = http.get(f"{V1}/watchlists", headers=h).json()["items"]
    assert [w["kind"] for w in items] == ["event", "performer", "venue"]
    wid = ev.json()["id"]
    patched = http.patch(f"{V1}/watchlists/{wid}", headers=h, json={"note": "row 1 please"})
    assert patched.json()["note"] == "row 1 please"
    assert http.get(f"{V1}/watchlists/{wid}", headers=h).json()["note"] == "row 1 please"
    assert http.delete(f"{V1}/watchlists/{wid}", headers=h).status_code == 204
    assert http.get(f"{V1}/watchlists/{wid}", headers=h).status_code == 404
    assert http.get(f"{V1}/watchlists").status_code == 401


def test_watchlist_pages(http, api_world):
    user = new_user(http, plan="premium", db_url=api_world.db_url)
    h = user["headers"]
    for i in range(7):
        assert http.post(f"{V1}/watchlists", headers=h,
                         json={"kind": "performer", "performer": f"Band {i}"}).is_success
    seen, page = [], http.get(f"{V1}/watchlists", headers=h, params={"limit": 3}).json()
    while True:
        seen += [w["performer"] for w in page["items"]]
        if not page["next"]:
            break
        page = http.get(page["next"], headers=h).json()
    assert seen == [f"Band {i}" for i in range(7)]


def test_alert_rule_crud_and_validation(http, api_world, alice):
    h = alice["headers"]
    eid = api_world.event_ids[1]
    r = http.post(f"{V1}/alert-rules", headers=h, json={
        "kind": "price_at_or_below", "event_id": eid, "max_price_cents": 12_000,
        "sections": ["101", "FLOOR"], "quantity": 2, "channels": ["email"],
        "quiet_start": "22:00:00", "quiet_end": "07:00:00",
        "quiet_timezone": "America/Los_Angeles"})
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["sections"] == ["101", "FLOOR"] and rule["quiet_start"] == "22:00:00"
    for body, field in [
        ({"kind": "drop_percent", "event_id": eid}, "drop_percent"),
        ({"kind": "price_at_or_below", "max_price_cents": 100}, "event_id"),
        ({"kind": "price_at_or_below", "event_id": eid, "performer": "X",
          "max_price_cents": 100}, "event_id"),
        ({"kind": "price_at_or_below", "event_id": eid, "max_price_cents": -1},
         "max_price_cents"),
        ({"kind": "deal_score_at_least", "event_id": eid, "min_deal_score": 50,
          "quiet_start": "22:00:00"}, "quiet_end"),
        ({"kind": "deal_score_at_least", "event_id": eid, "min_deal_score": 50,
          "quiet_timezone": "Mars/Olympus"}, "quiet_timezone"),
        ({"kind": "teleport", "event_id": eid}, "kind"),
    ]:
        bad = http.post(f"{V1}/alert-rules", headers=h, json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert bad.json()["errors"][0]["field"] == field, bad.text
    missing = http.post(f"{V1}/alert-rules", headers=h, json={
        "kind": "drop_percent", "event_id": 999999, "drop_percent": 10})
    assert missing.status_code == 422

    rid = rule["id"]
    patched = http.patch(f"{V1}/alert-rules/{rid}", headers=h,
                         json={"max_price_cents": 9_000, "active": False})
    assert patched.json()["max_price_cents"] == 9_000 and patched.json()["active"] is False
    assert http.get(f"{V1}/alert-rules/{rid}", headers=h).json()["max_price_cents"] == 9_000
    assert [x["id"] for x in http.get(f"{V1}/alert-rules", headers=h).json()["items"]] == [rid]
    assert http.delete(f"{V1}/alert-rules/{rid}", headers=h).status_code == 204
    assert http.get(f"{V1}/alert-rules/{rid}", headers=h).status_code == 404


def test_sms_is_premium(http, api_world, alice):
    eid = api_world.event_ids[1]
    body = {"kind": "deal_score_at_least", "event_id": eid, "min_deal_score": 80,
            "channels": ["email", "sms"]}
    r = http.post(f"{V1}/alert-rules", headers=alice["headers"], json=body)
    assert r.status_code == 403
    problem = r.json()
    assert problem["upgrade_url"] == "/api/v1/billing/checkout" and "premium" in problem["detail"]
    premium = new_user(http, plan="premium", db_url=api_world.db_url)
    r = http.post(f"{V1}/alert-rules", headers=premium["headers"], json=body)
    assert r.status_code == 201 and r.json()["channels"] == ["email", "sms"]


def test_free_plan_watchlist_limit(http, api_world, alice):
    h = alice["headers"]
    for i in range(FREE.max_watchlists):
        assert http.post(f"{V1}/watchlists", headers=h,
                         json={"kind": "performer", "performer": f"Act {i}"}).is_success
    r = http.post(f"{V1}/watchlists", headers=h, json={"kind": "performer", "performer": "1"})
    assert r.status_code == 403 and "upgrade" in r.json()["detail"]


def test_nobody_reads_or_changes_another_users_things(http, api_world, alice, bob):
    a, b = alice["headers"], bob["headers"]
    eid = api_world.event_ids[0]
    wid = http.post(f"{V1}/watchlists", headers=a, json={"kind": "event",
                                                          "event_id": eid}).json()["id"]
    rid = http.post(f"{V1}/alert-rules", headers=a, json={
        "kind": "drop_percent", "watchlist_id": wid, "drop_percent": 15}).json()["id"]
    key_id = http.get(f"{V1}/api-keys", headers=a).json()[0]["id"]
    with psycopg.connect(api_world.db_url) as conn:
        conn.execute(
            """INSERT INTO alert_outbox (rule_id, user_id, channel, dedupe_key, payload, status)
               VALUES (%s, %s, 'email', %s, %s, 'sent')""",
            (rid, alice["id"], f"t-{rid}", json.dumps({"event_id": eid, "total_cents": 7000})))

    for method, path, body in [
        ("GET", f"/watchlists/{wid}", None),
        ("PATCH", f"/watchlists/{wid}", {"note": "mine now"}),
        ("DELETE", f"/watchlists/{wid}", None),
        ("GET", f"/alert-rules/{rid}", None),
        ("PATCH", f"/alert-rules/{rid}", {"active": False}),
        ("DELETE", f"/alert-rules/{rid}", None),
        ("DELETE", f"/api-keys/{key_id}", None),
    ]:
        r = http.request(method, V1 + path, headers=b, json=body)
        assert r.status_code == 404, (method, path, r.text)
    assert http.get(f"{V1}/watchlists", headers=b).json()["items"] == []
    assert http.get(f"{V1}/alert-rules", headers=b).json()["items"] == []
    assert http.get(f"{V1}/alerts", headers=b).json()["items"] == []
    assert http.get(f"{V1}/api-keys", headers=b).json()[0]["id"] != key_id
    stolen = http.post(f"{V1}/alert-rules", headers=b, json={
        "kind": "drop_percent", "watchlist_id": wid, "drop_percent": 15})
    assert stolen.status_code == 404  # bob cannot hang a rule on alice's watchlist

    # alice's things are untouched and hers to see
    assert http.get(f"{V1}/watchlists/{wid}", headers=a).json()["note"] is None
    assert http.get(f"{V1}/alert-rules/{rid}", headers=a).json()["active"] is True
    history = http.get(f"{V1}/alerts", headers=a).json()["items"]
    assert len(history) == 1 and history[0]["payload"]["total_cents"] == 7000
    assert http.get(f"{V1}/account", headers=a).status_code == 200


def test_deals_for_me_follow_watchlists(http, api_world, alice):
    h = alice["headers"]
    assert http.get(f"{V1}/deals/for-me", headers=h).json()["items"] == []
    assert http.get(f"{V1}/deals/for-me").status_code == 401
    http.post(f"{V1}/watchlists", headers=h, json={"kind": "venue",
                                                    "venue_id": api_world.venue_ids[2]})
    deals = http.get(f"{V1}/deals/for-me", headers=h, params={"limit": 200}).json()["items"]
    assert deals and {d["event"]["city"] for d in deals} == {"Seattle"}
    scores = [d["listing"]["deal_score"] for d in deals]
    assert scores == sorted(scores, reverse=True)


def test_requires_premium_guard_says_how_to_upgrade(api_world, http):
    """The guard other parts (forecasts, billing) put on premium routes."""
    import httpx
    from litestar import get

    from api.app import create_app
    from api.lib.auth import requires_premium
    from tests.fixtures_api import ServerThread

    @get("/api/v1/forecast-demo", guards=[requires_premium])
    async def forecast_demo() -> dict[str, str]:
        return {"forecast": "down"}

    app = create_app(db_url=api_world.db_url)
    app.register(forecast_demo)
    free, premium = new_user(http), new_user(http, plan="premium", db_url=api_world.db_url)
    with ServerThread(app) as base:
        anonymous = httpx.get(f"{base}/api/v1/forecast-demo")
        denied = httpx.get(f"{base}/api/v1/forecast-demo", headers=free["headers"])
        allowed = httpx.get(f"{base}/api/v1/forecast-demo", headers=premium["headers"])
    assert anonymous.status_code == 401
    assert denied.status_code == 403
    assert denied.json()["upgrade_url"] == "/api/v1/billing/checkout"
    assert "free plan" in denied.json()["detail"]
    assert allowed.status_code == 200 and allowed.json() == {"forecast": "down"}


def test_plan_follows_the_subscription(http, api_world):
    user = new_user(http)
    assert http.get(f"{V1}/account", headers=user["headers"]).json()["plan"] == "free"
    with psycopg.connect(api_world.db_url) as conn:
        conn.execute("INSERT INTO subscriptions (user_id, status, plan) "
                     "VALUES (%s, 'active', 'premium')", (user["id"],))
    assert http.get(f"{V1}/account", headers=user["headers"]).json()["plan"] == "premium"
    key = http.post(f"{V1}/api-keys", headers=user["headers"]).json()["key"]
    r = http.post(f"{V1}/alert-rules", headers={"Authorization": f"Bearer {key}"}, json={
        "kind": "deal_score_at_least", "event_id": api_world.event_ids[0],
        "min_deal_score": 90, "channels": ["sms"]})
    assert r.status_code == 201, r.text  # SMS is allowed on premium


def test_every_rule_kind_the_matcher_supports_is_offered(http, api_world, alice):
    """back_in_stock and cent drops within a window exist in the API and its OpenAPI."""
    h, eid = alice["headers"], api_world.event_ids[2]
    stock = http.post(f"{V1}/alert-rules", headers=h,
                      json={"kind": "back_in_stock", "event_id": eid})
    assert stock.status_code == 201, stock.text
    assert stock.json()["kind"] == "back_in_stock"
    drop = http.post(f"{V1}/alert-rules", headers=h, json={
        "kind": "drop_percent", "event_id": eid, "drop_cents": 2_500,
        "window_seconds": 6 * 3600})
    assert drop.status_code == 201, drop.text
    assert (drop.json()["drop_cents"], drop.json()["window_seconds"],
            drop.json()["drop_percent"]) == (2_500, 21_600, None)
    by_percent = http.post(f"{V1}/alert-rules", headers=h, json={
        "kind": "drop_percent", "event_id": eid, "drop_percent": 12.5})
    assert by_percent.json()["window_seconds"] == 86_400  # one day unless told
    rid = drop.json()["id"]
    patched = http.patch(f"{V1}/alert-rules/{rid}", headers=h,
                         json={"drop_cents": 4_000, "window_seconds": 3_600})
    assert (patched.json()["drop_cents"], patched.json()["window_seconds"]) == (4_000, 3_600)
    assert http.get(f"{V1}/alert-rules/{rid}", headers=h).json()["drop_cents"] == 4_000

    missing = http.post(f"{V1}/alert-rules", headers=h,
                        json={"kind": "drop_percent", "event_id": eid, "window_seconds": 3600})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "drop_percent"
    assert "drop_cents" in missing.json()["detail"]
    for body, field in [({"drop_cents": 0}, "drop_cents"),
                        ({"drop_cents": 500, "window_seconds": 5}, "window_seconds")]:
        bad = http.post(f"{V1}/alert-rules", headers=h,
                        json={"kind": "drop_percent", "event_id": eid, **body})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, bad.text

    doc = http.get("/schema/openapi.json").json()
    rule_in = doc["components"]["schemas"]["AlertRuleIn"]
    assert {"drop_cents", "window_seconds"} <= set(rule_in["properties"])
    assert "back_in_stock" in json.dumps(rule_in["properties"]["kind"])
    with psycopg.connect(api_world.db_url) as conn:
        (check,) = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                "WHERE conname = 'alert_rules_kind_check'").fetchone()
    from api.web.pages_alerts import _KINDS
    # price_protection rules are made by recording a purchase (/api/v1/purchases)
    kinds = (*_KINDS, "price_protection")
    assert all(kind in check for kind in kinds) and check.count("'") == 2 * len(kinds)


def test_last_fired_is_the_rules_latest_match(http, api_world, alice):
    """A rule that matched says when, through the real ingest and matcher."""
    from engine.alerts import match
    from storage.ingest import write_snapshots
    from tests.fixtures_api import listing_batch

    h, eid = alice["headers"], api_world.event_ids[1]
    rule = http.post(f"{V1}/alert-rules", headers=h, json={
        "kind": "price_at_or_below", "event_id": eid, "max_price_cents": 10_000_000}).json()
    quiet = http.post(f"{V1}/alert-rules", headers=h, json={
        "kind": "price_at_or_below", "event_id": eid, "max_price_cents": 1}).json()
    assert rule["last_fired_at"] is None
    with psycopg.connect(api_world.db_url) as conn:
        result = write_snapshots(conn, listing_batch(f"seatgeek-{eid}", "seatgeek", 2,
                                                     start=10_000), touch_interval_s=0)
        conn.commit()
        assert match(conn, result)["matches"] >= 1
        conn.commit()
    got = http.get(f"{V1}/alert-rules/{rule['id']}", headers=h).json()
    assert got["last_fired_at"] is not None
    listed = {r["id"]: r for r in http.get(f"{V1}/alert-rules", headers=h).json()["items"]}
    assert listed[rule["id"]]["last_fired_at"] == got["last_fired_at"]
    assert listed[quiet["id"]]["last_fired_at"] is None
    assert http.get(f"{V1}/alerts", headers=h).json()["items"][0]["rule_id"] == rule["id"]
