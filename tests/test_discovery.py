"""Saved searches on the dashboard, recommendations (REST and home page, refreshed by the
engine's job), and first-party analytics (recorded, Do-Not-Track respected, tracked links,
the operations page's charts, /metrics) over real HTTP on the seeded API database."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import httpx
import psycopg
import pytest

from tests.fixtures_api import dashboard_user

V1 = "/api/v1"


def _signed_up(base: str) -> tuple[httpx.Client, str, str]:
    return dashboard_user(base)


def _analytics(db_url: str, kind: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT user_id, event_id, q, results, ref FROM analytics_events "
                            "WHERE kind = %s ORDER BY at", (kind,)).fetchall()


def test_save_a_search_from_the_dashboard_and_see_what_is_new(api_base_url: str,
                                                              api_world: Any) -> None:
    c, csrf, _ = _signed_up(api_base_url)
    home = c.get("/", params={"q": "Blazers", "max": "400", "sort": "price"}).text
    assert "Save this search" in home
    r = c.post("/saved-searches", data={"csrf": csrf, "name": "Blazers under $400",
                                        "q": "Blazers", "max": "400", "sort": "price",
                                        "alert_new_events": "on"})
    assert r.status_code == 303 and r.headers["location"].startswith("/saved-searches/")
    opened = c.get(r.headers["location"]).text
    assert "Blazers under $400" in opened and "Trail Blazers" in opened
    assert "“Blazers” · up to $400 · by price" in opened
    with psycopg.connect(api_world.db_url) as conn:
        conn.execute("""INSERT INTO events (name, starts_at, venue_id, category, performers)
            VALUES ('Portland Trail Blazers vs. Miami Heat', now() + interval '30 days', %s,
                    'basketball', '{Portland Trail Blazers,Miami Heat}')""",
                     (api_world.venue_ids[0],))
    listing = c.get("/saved-searches").text
    assert "1 new event" in listing
    r = c.post("/saved-searches", data={"csrf": csrf, "name": "bad", "max": "lots"})
    assert r.status_code == 303
    assert "must be a number" in c.get(r.headers["location"]).text
    rules_and_saves = _analytics(api_world.db_url, "saved_search_created")
    assert rules_and_saves, "saved searches created are counted"


def test_recommendations_cold_start_then_from_the_users_own_signals(api_base_url: str,
                                                                     api_world: Any) -> None:
    from engine.recommend.job import refresh_recommendations

    anon = httpx.get(f"{api_base_url}{V1}/recommendations").json()
    assert anon["personalized"] is False and anon["items"]
    assert all(i["reason"].startswith("popular") for i in anon["items"])

    c, csrf, _ = _signed_up(api_base_url)
    r = c.post("/watchlists", data={"csrf": csrf, "kind": "performer",
                                    "performer": "Seattle Kraken"})
    assert r.status_code == 303
    blazers = api_world.event_ids[0]
    c.get(f"/events/{blazers}")  # opened: a signal too
    result = refresh_recommendations(api_world.db_url)
    assert result["users"] >= 1 and result["picks"] >= 1
    mine = c.get(f"{V1}/recommendations", params={"limit": 5}).json()
    assert mine["personalized"] is True
    top = mine["items"][0]
    assert "Kraken" in top["name"], mine
    assert top["reason"] == "because you follow Seattle Kraken"
    assert blazers not in [i["event_id"] for i in mine["items"]]  # already opened
    home = c.get("/").text
    assert "Recommended for you" in home and "Because you follow Seattle Kraken" in home

    # the weekly email of picks: opt-in, queued once a week, rendered with the reasons
    r = c.post("/account/notifications", data={"csrf": csrf, "email_alerts": "on",
                                                "picks_email": "on", "timezone": ""})
    assert r.status_code == 303
    assert 'name="picks_email" value="on" checked' in c.get("/account").text
    assert refresh_recommendations(api_world.db_url)["weekly_emails_queued"] == 1
    assert refresh_recommendations(api_world.db_url)["weekly_emails_queued"] == 0
    with psycopg.connect(api_world.db_url) as conn:
        (payload,) = conn.execute(
            """SELECT o.payload FROM alert_outbox o JOIN users u ON u.id = o.user_id
               WHERE o.dedupe_key LIKE 'picks-%%' AND u.picks_email""").fetchone()
    from engine.alerts.messages import render_email

    msg = render_email(key="picks-1", to="fan@example.com", sender="a@b.test",
                       payloads=[payload], public_url="http://ripcity.test", secret="k",
                       user_id=1, unsubscribe_key="per-user")
    text = msg.get_payload()[0].get_payload(decode=True).decode()
    assert "Recommended for you" in str(msg["Subject"])
    assert "Because you follow Seattle Kraken" in text and "?from=rec" in text


def test_analytics_recorded_first_party_and_do_not_track_respected(
        api_base_url: str, api_world: Any) -> None:
    c, _, email = _signed_up(api_base_url)
    before = len(_analytics(api_world.db_url, "search"))
    c.get("/", params={"q": "zzzz nothing like this"})
    c.get("/", params={"q": "Blazers"})
    c.get("/", params={"q": "zzzz nothing like this"}, headers={"DNT": "1"})
    rows = _analytics(api_world.db_url, "search")[before:]
    assert [(r[2], r[3] > 0) for r in rows] == [("zzzz nothing like this", False),
                                                ("Blazers", True)]
    assert all(r[0] is not None for r in rows)  # the user id, nothing else about them

    eid = api_world.event_ids[1]
    go = c.get(f"/go/{eid}/seatgeek")
    assert go.status_code == 303 and go.headers["location"] == f"https://seatgeek.example/e/{eid}"
    assert (eid,) in [(r[1],) for r in _analytics(api_world.db_url, "buy_click")]
    assert c.get(f"/go/{eid}/ebay").status_code in (400, 404, 422)

    # an alert email's pixel and link (the key is the message's idempotency key)
    with psycopg.connect(api_world.db_url) as conn:
        uid = conn.execute("SELECT id FROM users WHERE email = %s", (email,)).fetchone()[0]
        conn.execute("""INSERT INTO alert_outbox (user_id, channel, dedupe_key, idempotency_key,
                            payload, status, sent_at)
                        VALUES (%s, 'email', 'm990-email', 'm990-email', '{}', 'sent', now())""",
                     (uid,))
    pixel = httpx.get(f"{api_base_url}/t/m990-email/open.gif")
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    follow = httpx.get(f"{api_base_url}/t/m990-email/go", params={"e": eid, "m": "seatgeek"})
    assert follow.status_code == 303 and "seatgeek.example" in follow.headers["location"]
    assert httpx.get(f"{api_base_url}/t/forged/go",
                     params={"e": eid, "m": "seatgeek"}).status_code == 404
    assert [r[0] for r in _analytics(api_world.db_url, "alert_click")] == [uid]

    metrics = httpx.get(f"{api_base_url}/metrics").text
    found = dict(re.findall(r'ripcity_product_events_total\{kind="(\w+)"\} (\S+)', metrics))
    assert float(found["search_empty"]) >= 2  # the DNT search counts, without a row
    assert float(found["alert_click"]) >= 1

    with psycopg.connect(api_world.db_url) as conn:
        conn.execute("UPDATE users SET is_admin = true WHERE id = %s", (uid,))
    ops = c.get("/ops")
    assert ops.status_code == 200
    assert "Searched for, found nothing" in ops.text and "zzzz nothing like this" in ops.text
    assert "Alert funnel" in ops.text and "Active users per day" in ops.text


def _metric(base: str, name: str, label: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    found = dict(re.findall(name + r'_total\{\w+="(\w+)"\} (\S+)', text))
    return float(found.get(label, 0))


def test_rest_searches_recorded_with_and_without_results_also_from_the_cache(
        api_base_url: str, api_world: Any) -> None:
    from tests.waiting import wait_until

    c, _, email = _signed_up(api_base_url)
    with psycopg.connect(api_world.db_url) as conn:
        uid = conn.execute("SELECT id FROM users WHERE email = %s", (email,)).fetchone()[0]
    before = len(_analytics(api_world.db_url, "search"))
    hits = _metric(api_base_url, "ripcity_api_cache", "hit")
    empty = _metric(api_base_url, "ripcity_product_events", "search_empty")

    found = c.get(f"{V1}/events", params={"q": "Blazers", "limit": 3})
    assert found.status_code == 200 and found.json()["items"]
    again = c.get(f"{V1}/events", params={"q": "Blazers", "limit": 3})  # from the cache
    assert again.json() == found.json()
    not_modified = c.get(f"{V1}/events", params={"q": "Blazers", "limit": 3},
                         headers={"If-None-Match": found.headers["etag"]})
    assert not_modified.status_code == 304
    for _ in range(2):  # nothing found: a miss, then a hit; by someone not signed in
        nothing = httpx.get(f"{api_base_url}{V1}/events", params={"q": "qqq rest nothing"})
        assert nothing.status_code == 200 and nothing.json()["items"] == []
    # not recorded: a request that refuses tracking, a listing with no filter, a next page
    assert c.get(f"{V1}/events", params={"q": "qqq rest nothing"},
                 headers={"DNT": "1"}).status_code == 200
    assert c.get(f"{V1}/events", params={"q": "Blazers", "limit": 3},
                 headers={"Sec-GPC": "1"}).status_code == 200
    assert c.get(f"{V1}/events", params={"limit": 2}).status_code == 200
    nxt = found.json()["next_cursor"]
    if nxt:
        assert c.get(f"{V1}/events", params={"q": "Blazers", "limit": 3,
                                             "cursor": nxt}).status_code == 200
    assert c.get(f"{V1}/events", params={"limit": 0}).status_code in (400, 422)

    rows = wait_until(lambda: (r := _analytics(api_world.db_url, "search")[before:])
                      and len(r) >= 5 and r, timeout=20, message="REST searches not stored")
    assert Counter((r[0], r[2], r[3] > 0) for r in rows) == {
        (uid, "Blazers", True): 3, (None, "qqq rest nothing", False): 2}
    assert _metric(api_base_url, "ripcity_api_cache", "hit") >= hits + 4  # served from cache
    # /metrics counts every search, those refusing tracking too (no identity there)
    assert _metric(api_base_url, "ripcity_product_events", "search_empty") == empty + 3


@pytest.mark.parametrize("kind", ["alert_open", "event_view"])
def test_every_recorded_kind_is_one_the_table_accepts(kind: str) -> None:
    from storage.analytics import KINDS

    assert kind in KINDS
