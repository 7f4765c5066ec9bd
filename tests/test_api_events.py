"""Public reads over real HTTP: events, listings, price history, deals, refresh requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures_api import new_user

V1 = "/api/v1"


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_search_finds_events_by_team_venue_and_city(http, api_world):
    by_team = http.get(f"{V1}/events", params={"q": "Trail Blazers"}).json()["items"]
    assert by_team and all("Blazers" in e["name"] for e in by_team)
    by_venue = http.get(f"{V1}/events", params={"q": "Climate Pledge"}).json()["items"]
    assert by_venue and all(e["venue"]["name"] == "Climate Pledge Arena" for e in by_venue)
    by_city = http.get(f"{V1}/events", params={"city": "seattle"}).json()["items"]
    assert {e["venue"]["city"] for e in by_city} == {"Seattle"}
    assert http.get(f"{V1}/events", params={"q": "no such band"}).json()["items"] == []


def test_search_filters_and_sorts(http, api_world):
    everything = http.get(f"{V1}/events").json()["items"]
    assert len(everything) == len(api_world.event_ids)
    starts = [e["starts_at"] for e in everything]
    assert starts == sorted(starts)
    e0 = everything[0]
    assert e0["get_in_cents"] > 0 and e0["listing_count"] == api_world.listings_per_event
    assert set(e0["marketplaces"]) == {"seatgeek", "ticketmaster"}

    concerts = http.get(f"{V1}/events", params={"category": "concert"}).json()["items"]
    assert concerts and {e["category"] for e in concerts} == {"concert"}

    soon = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    early = http.get(f"{V1}/events", params={"starts_before": soon}).json()["items"]
    assert 0 < len(early) < len(everything)
    assert all(e["starts_at"] < soon.replace("+00:00", "Z") for e in early)

    by_price = http.get(f"{V1}/events", params={"sort": "price"}).json()["items"]
    prices = [e["get_in_cents"] for e in by_price]
    assert prices == sorted(prices)
    cheap = http.get(f"{V1}/events", params={"max_price": prices[0]}).json()["items"]
    assert cheap and all(e["get_in_cents"] <= prices[0] for e in cheap)
    assert http.get(f"{V1}/events", params={"min_price": 10**8}).json()["items"] == []

    by_deal = http.get(f"{V1}/events", params={"sort": "deal"}).json()["items"]
    scores = [e["best_deal_score"] for e in by_deal]
    assert scores == sorted(scores, reverse=True)
    sg = http.get(f"{V1}/events", params={"marketplace": "seatgeek"}).json()["items"]
    assert len(sg) == len(everything)
    assert http.get(f"{V1}/events", params={"marketplace": "stubhub"}).json()["items"] == []


def test_search_rejects_bad_input_naming_the_field(http):
    body = _problem(http.get(f"{V1}/events", params={"limit": "lots"}), 422)
    assert body["errors"][0]["field"] == "limit"
    body = _problem(http.get(f"{V1}/events", params={"sort": "vibes"}), 422)
    assert body["errors"][0]["field"] == "sort"
    body = _problem(http.get(f"{V1}/events", params={"starts_after": "tomorrow-ish"}), 422)
    assert body["errors"][0]["field"] == "starts_after"
    _problem(http.get(f"{V1}/events", params={"min_price": 500, "max_price": 100}), 422)
    body = _problem(http.get(f"{V1}/events", params={"cursor": "not-a-cursor"}), 422)
    assert "cursor" in body["detail"]


def test_text_the_database_cannot_store_is_a_validation_error_not_a_500(http, api_world):
    event_id = api_world.event_ids[0]
    r = http.get(f"{V1}/events/{event_id}/listings", params={"section": "1\x002"})
    body = _problem(r, 422)
    assert "NUL" in body["detail"] and body["errors"][0]["field"] == "section"


def test_event_detail(http, api_world):
    eid = api_world.event_ids[0]
    e = http.get(f"{V1}/events/{eid}").json()
    assert e["id"] == eid and e["venue"]["name"] == "Moda Center"
    assert {li["marketplace"] for li in e["links"]} == {"seatgeek", "ticketmaster"}
    assert all(li["url"].startswith("https://") for li in e["links"])
    assert sum(p["listing_count"] for p in e["prices"]) == e["listing_count"] == 60
    assert e["get_in_cents"] == min(p["get_in_cents"] for p in e["prices"])
    assert e["trend"]["direction"] in {"up", "down", "flat", "unknown"}
    body = _problem(http.get(f"{V1}/events/999999"), 404)
    assert "999999" in body["detail"] and "/api/v1/events" in body["detail"]
    _problem(http.get(f"{V1}/events/0"), 422)


def test_listings_filters(http, api_world):
    eid = api_world.event_ids[1]
    url = f"{V1}/events/{eid}/listings"
    everything = http.get(url, params={"limit": 200}).json()["items"]
    assert len(everything) == 60
    totals = [li["total_cents"] for li in everything]
    assert totals == sorted(totals)
    first = everything[0]
    assert first["deal_score"] is not None and first["deal_reason"]
    assert first["buy_url"].startswith(f"https://{first['marketplace']}.example/")

    floor = http.get(url, params={"section": "floor", "limit": 200}).json()["items"]
    assert floor and {li["section"] for li in floor} == {"FLOOR"}
    rows = http.get(url, params={"row_from": "3", "row_to": "5", "limit": 200}).json()["items"]
    assert rows and all(li["row"] in {"3", "4", "5"} for li in rows)
    letters = http.get(url, params={"row_from": "B", "row_to": "C", "limit": 200}).json()
    assert letters["items"] and all(li["row"] in {"B", "C"} for li in letters["items"])

    two = http.get(url, params={"quantity": 2, "limit": 200}).json()["items"]
    assert two
    for li in two:
        assert li["quantity"] >= 2 and (li["splits"] is None or 2 in li["splits"])
    three = http.get(url, params={"quantity": 3, "limit": 200}).json()["items"]
    assert all(li["splits"] is None or 3 in li["splits"] for li in three)
    assert not any(li["splits"] == [2, 4] for li in three)  # "2,4" never sells 3

    cap = totals[len(totals) // 2]
    cheap = http.get(url, params={"max_price": cap, "limit": 200}).json()["items"]
    assert cheap and all(li["total_cents"] <= cap for li in cheap)
    tm = http.get(url, params={"marketplace": "ticketmaster", "limit": 200}).json()["items"]
    assert len(tm) == 30 and {li["marketplace"] for li in tm} == {"ticketmaster"}
    by_deal = http.get(url, params={"sort": "deal", "limit": 200}).json()["items"]
    scores = [li["deal_score"] for li in by_deal]
    assert scores == sorted(scores, reverse=True)

    _problem(http.get(f"{V1}/events/999999/listings"), 404)
    body = _problem(http.get(url, params={"quantity": 0}), 422)
    assert body["errors"][0]["field"] == "quantity"


@pytest.mark.parametrize("sort", ["price", "deal"])
def test_listing_pages_cover_every_row_once_even_with_inserts(http, api_world, sort):
    from storage.ingest import write_snapshots
    from tests.fixtures_api import listing_batch

    eid = api_world.event_ids[2]
    url = f"{V1}/events/{eid}/listings"
    seen: list[tuple[str, str]] = []
    page = http.get(url, params={"limit": 7, "sort": sort}).json()
    pages = 0
    while True:
        seen += [(li["marketplace"], li["listing_id"]) for li in page["items"]]
        pages += 1
        if pages == 2 and sort == "price":  # a cheaper listing arrives mid-way
            import psycopg

            with psycopg.connect(api_world.db_url) as conn:
                write_snapshots(conn, listing_batch(f"seatgeek-{eid}", "seatgeek", 1,
                                                    start=10_000, price_shift=-4_900))
        if not page["next"]:
            break
        assert page["next"].startswith(url) and "cursor=" in page["next"]
        page = http.get(page["next"]).json()
    assert len(seen) == len(set(seen))
    original = {(m, i) for m, i in seen if not i.endswith("-10000")}
    assert len(original) == 60 and pages == 9


def test_event_pages_cover_every_event_once(http, api_world):
    seen = []
    page = http.get(f"{V1}/events", params={"limit": 4, "sort": "price"}).json()
    while True:
        seen += [e["id"] for e in page["items"]]
        if not page["next_cursor"]:
            break
        page = http.get(f"{V1}/events", params={"limit": 4, "sort": "price",
                                                "cursor": page["next_cursor"]}).json()
    assert sorted(seen) == sorted(api_world.event_ids)


def test_price_history(http, api_world):
    eid = api_world.event_ids[3]
    url = f"{V1}/events/{eid}/history"
    per_mk = http.get(url, params={"bucket": "1h"}).json()
    assert per_mk["bucket"] == "1h" and not per_mk["merged"]
    assert {p["marketplace"] for p in per_mk["points"]} == {"seatgeek", "ticketmaster"}
    for p in per_mk["points"]:
        assert p["min_cents"] <= p["median_cents"] <= p["max_cents"]
        assert p["listing_count"] == 30
    merged = http.get(url, params={"bucket": "15m", "merged": "true"}).json()
    assert merged["points"] and {p["marketplace"] for p in merged["points"]} == {None}
    assert all(p["listing_count"] == 60 for p in merged["points"])
    section = http.get(url, params={"bucket": "1d", "section": "FLOOR",
                                    "merged": "true"}).json()
    assert section["section"] == "FLOOR"
    assert 0 < section["points"][0]["listing_count"] < 60

    _problem(http.get(url, params={"bucket": "7m"}), 422)
    now = datetime.now(UTC)
    _problem(http.get(url, params={"since": now.isoformat(),
                                   "until": (now - timedelta(hours=1)).isoformat()}), 422)
    _problem(http.get(url, params={"bucket": "5m", "since": "2000-01-01T00:00:00Z"}), 422)
    _problem(http.get(f"{V1}/events/999999/history"), 404)


def test_listing_history(http, api_world):
    eid = api_world.event_ids[3]
    li = http.get(f"{V1}/events/{eid}/listings", params={"limit": 1}).json()["items"][0]
    hist = http.get(li["history_url"]).json()
    assert hist["listing_id"] == li["listing_id"]
    assert hist["points"][-1]["total_cents"] == li["total_cents"]
    _problem(http.get(f"{V1}/events/{eid}/listings/seatgeek/nope/history"), 404)
    _problem(http.get(f"{V1}/events/{eid}/listings/craigslist/x/history"), 422)


def test_deals(http, api_world):
    deals = http.get(f"{V1}/deals", params={"limit": 10}).json()
    scores = [d["listing"]["deal_score"] for d in deals["items"]]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)
    assert deals["items"][0]["event"]["name"] and deals["next"]
    seattle = http.get(f"{V1}/deals", params={"city": "Seattle", "limit": 50}).json()
    assert seattle["items"] and {d["event"]["city"] for d in seattle["items"]} == {"Seattle"}
    good = http.get(f"{V1}/deals", params={"min_score": 90, "max_price": 30_000}).json()
    for d in good["items"]:
        assert d["listing"]["deal_score"] >= 90 and d["listing"]["total_cents"] <= 30_000
    ids = []
    page = http.get(f"{V1}/deals", params={"limit": 50, "q": "Portugal"}).json()
    while True:
        ids += [(d["listing"]["marketplace"], d["listing"]["listing_id"]) for d in page["items"]]
        if not page["next"]:
            break
        page = http.get(page["next"]).json()
    assert len(ids) == len(set(ids)) == 2 * 60  # two Portugal. The Man events
    _problem(http.get(f"{V1}/deals", params={"min_score": 101}), 422)


def test_refresh_request_is_queued_for_the_engine(http, api_world):
    eid = api_world.event_ids[4]
    _problem(http.post(f"{V1}/events/{eid}/refresh"), 401)
    user = new_user(http)
    r = http.post(f"{V1}/events/{eid}/refresh", headers=user["headers"])
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["poll_url"]
    again = http.post(f"{V1}/events/{eid}/refresh", headers=user["headers"]).json()
    assert again["id"] == r.json()["id"]  # still pending: the same request
    status = http.get(r.headers["location"]).json()
    assert status["status"] == "pending" and status["event_id"] == eid
    _problem(http.post(f"{V1}/events/999999/refresh", headers=user["headers"]), 404)
    _problem(http.get(f"{V1}/refresh-requests/999999"), 404)
