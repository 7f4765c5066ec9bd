"""The world behaves like a market: deterministic, stable pagination, prices that move
with the clock, and truth that agrees with what every endpoint serves."""

from __future__ import annotations

import json

import pytest

from sandbox.app import SandboxConfig, create_app
from tests.fixtures_sandbox import AsgiClient

SMALL = {"events": 12, "listings_per_event": 80, "faults": "none"}


def _world(seed: int = 7, **kw) -> AsgiClient:
    return AsgiClient(create_app(SandboxConfig(seed=seed, **{**SMALL, **kw})))


@pytest.fixture(scope="module")
def world() -> AsgiClient:
    return _world()


def _ids(client: AsgiClient, m: str, status: str = "onsale") -> tuple[dict, str]:
    events = client.json("/_sandbox/truth/events")["events"]
    e = next(x for x in events if m in x["ids"] and x["status"] == status)
    return e, e["ids"][m]


def _urls(client: AsgiClient) -> list[str]:
    _, tm = _ids(client, "ticketmaster")
    _, sg = _ids(client, "seatgeek")
    _, sh = _ids(client, "stubhub")
    return ["/ticketmaster/discovery/v2/events.json?apikey=sandbox&size=5&page=1",
            f"/ticketmaster/top-picks/v1/events/{tm}?apikey=sandbox&size=50",
            f"/ticketmaster/commerce/v2/events/{tm}/offers.json?apikey=sandbox",
            "/seatgeek/2/events?client_id=sandbox&per_page=10",
            f"/seatgeek/2/events/{sg}/listings?client_id=sandbox&per_page=50&page=2",
            f"/stubhub/search/inventory/v2?eventId={sh}&rows=40&sectionStats=true",
            f"/stubhub/web/event/{sh}/listings.json"]


def test_same_seed_and_clock_give_identical_bytes() -> None:
    a, b, other = _world(), _world(), _world(seed=8)
    for url in _urls(a):
        assert a.get(url)[2] == b.get(url)[2], url
    listings = _urls(a)[4]
    assert a.get(listings)[2] != other.get(listings.replace(
        _ids(a, "seatgeek")[1], _ids(other, "seatgeek")[1]))[2]


def _collect(client: AsgiClient, url: str, key: str, size: int, page_base: int,
             id_of, total_of) -> tuple[list[str], int]:
    seen: list[str] = []
    page = page_base
    while True:
        body = client.json(url.format(page=page, start=(page - page_base) * size))
        items = body[key]
        seen += [id_of(x) for x in items]
        if not items:
            return seen, total_of(body)
        page += 1


def test_pagination_covers_every_listing_exactly_once(world) -> None:
    event, sg = _ids(world, "seatgeek")
    _, tm = _ids(world, "ticketmaster")
    truth = world.json(f"/_sandbox/truth/events/{event['world_event_id']}")

    def shown(m: str) -> set[str]:
        return {x["marketplaces"][m]["listing_id"] for x in truth["listings"]
                if m in x["marketplaces"]}

    ids, total = _collect(world, f"/seatgeek/2/events/{sg}/listings?client_id=sandbox"
                          "&per_page=7&page={page}", "listings", 7, 1, lambda x: str(x["id"]),
                          lambda b: b["meta"]["total"])
    assert len(ids) == len(set(ids)) == total > 7
    assert set(ids) == shown("seatgeek")
    ids, total = _collect(world, f"/stubhub/search/inventory/v2?eventId={event['ids']['stubhub']}"
                          "&rows=9&start={start}", "listing", 9, 0,
                          lambda x: str(x["listingId"]), lambda b: b["totalListings"])
    assert len(ids) == len(set(ids)) == total
    assert set(ids) == shown("stubhub")
    tm_event = next(e for e in world.json("/_sandbox/truth/events")["events"]
                    if e["ids"].get("ticketmaster") == tm)
    tm_truth = world.json(f"/_sandbox/truth/events/{tm_event['world_event_id']}")
    ids, total = _collect(world, f"/ticketmaster/top-picks/v1/events/{tm}?apikey=sandbox"
                          "&size=11&page={page}", "picks", 11, 0, lambda x: x["id"],
                          lambda b: b["page"]["totalElements"])
    assert len(ids) == len(set(ids)) == total
    assert set(ids) == {x["marketplaces"]["ticketmaster"]["listing_id"]
                        for x in tm_truth["listings"] if "ticketmaster" in x["marketplaces"]}


def test_event_search_paginates_and_caps_deep_paging(world) -> None:
    found, page = [], 0
    while True:
        body = world.json(f"/ticketmaster/discovery/v2/events.json?apikey=sandbox&size=4"
                          f"&page={page}")
        found += [e["id"] for e in body.get("_embedded", {}).get("events", [])]
        if "next" not in body["_links"]:
            break
        page += 1
    truth = world.json("/_sandbox/truth/events")["events"]
    assert found == [e["ids"]["ticketmaster"] for e in truth if "ticketmaster" in e["ids"]]
    status, _, body = world.get("/ticketmaster/discovery/v2/events.json?apikey=sandbox"
                                "&size=200&page=5")
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "DIS1035"
    seen, token = [], ""
    org = world.json("/eventbrite/v3/users/me/organizations/")["organizations"]
    for o in org:
        token = ""
        while True:
            page = world.json(f"/eventbrite/v3/organizations/{o['id']}/events/?page_size=1"
                              f"&status=all{'&continuation=' + token if token else ''}")
            seen += [e["id"] for e in page["events"]]
            if not page["pagination"]["has_more_items"]:
                break
            token = page["pagination"]["continuation"]
    assert sorted(seen) == sorted(e["ids"]["eventbrite"] for e in truth
                                  if "eventbrite" in e["ids"])


def test_clock_moves_prices_sells_and_lists() -> None:
    client = _world()
    event, _ = _ids(client, "seatgeek")
    url = f"/_sandbox/truth/events/{event['world_event_id']}"
    before = {x["slot"]: x for x in client.json(url)["listings"] if x["slot"] is not None}
    moved = client.post("/_sandbox/clock", {"seconds": 4 * 86_400})
    assert moved["now"] == "2026-10-05T12:00:00Z"
    after = {x["slot"]: x for x in client.json(url)["listings"] if x["slot"] is not None}
    assert set(before) - set(after), "some listings sold"
    assert set(after) - set(before), "new listings appeared"
    both = set(before) & set(after)
    repriced = [s for s in both if any(
        before[s]["marketplaces"][m]["all_in_cents"] != after[s]["marketplaces"][m]["all_in_cents"]
        for m in before[s]["marketplaces"])]
    assert len(repriced) > len(both) / 4
    fair_moved = [s for s in both if before[s]["fair_cents"] != after[s]["fair_cents"]]
    assert fair_moved, "fair values drift with time to the event"
    client.post("/_sandbox/clock", {"set": "2026-10-01T12:00:00Z"})
    again = {x["slot"]: x for x in client.json(url)["listings"] if x["slot"] is not None}
    assert again == before, "the clock is the only state: going back restores the market"


def test_truth_agrees_with_every_endpoint(world) -> None:
    events = world.json("/_sandbox/truth/events")["events"]
    for e in [x for x in events if x["status"] != "cancelled"][:6]:
        truth = world.json(f"/_sandbox/truth/events/{e['world_event_id']}")
        by = {m: {x["marketplaces"][m]["listing_id"]: x for x in truth["listings"]
                  if m in x["marketplaces"]} for m in ("ticketmaster", "seatgeek", "stubhub",
                                                      "eventbrite")}
        ids = e["ids"]
        if "seatgeek" in ids:
            page = world.json(f"/seatgeek/2/events/{ids['seatgeek']}/listings?client_id=sandbox"
                              "&per_page=500")
            for x in page["listings"]:
                t = by["seatgeek"][str(x["id"])]["marketplaces"]["seatgeek"]
                assert round(x["price"]["all_in"] * 100) == t["all_in_cents"]
                assert round(x["price"]["base"] * 100) == t["price_cents"]
                assert x["quantity"] == t["quantity"] and x["section"] == t["section"]
            stats = world.json(f"/seatgeek/2/events/{ids['seatgeek']}?client_id=sandbox")["stats"]
            assert stats["listing_count"] == len(by["seatgeek"])
            if by["seatgeek"]:
                lowest = min(x["marketplaces"]["seatgeek"]["all_in_cents"]
                             for x in by["seatgeek"].values())
                assert stats["lowest_price"] == round(lowest / 100)
        if "stubhub" in ids:
            inv = world.json(f"/stubhub/search/inventory/v2?eventId={ids['stubhub']}&rows=500")
            for x in inv["listing"]:
                t = by["stubhub"][str(x["listingId"])]["marketplaces"]["stubhub"]
                assert round(x["currentPrice"]["amount"] * 100) == t["all_in_cents"]
                assert round(x["listingPrice"]["amount"] * 100) == t["price_cents"]
            web = world.json(f"/stubhub/web/event/{ids['stubhub']}/listings.json")
            assert {str(x["id"]) for x in web["listings"]} == set(by["stubhub"])
            for x in web["listings"]:
                cents = by["stubhub"][str(x["id"])]["marketplaces"]["stubhub"]["all_in_cents"]
                assert x["price"] == f"${cents / 100:,.2f}"
        if "ticketmaster" in ids:
            picks = world.json(f"/ticketmaster/top-picks/v1/events/{ids['ticketmaster']}"
                               "?apikey=sandbox&size=200")
            offers = {o["offerId"]: o for o in picks["_embedded"]["offer"]}
            for p in picks["picks"]:
                t = by["ticketmaster"][p["id"]]["marketplaces"]["ticketmaster"]
                assert round(offers[p["offers"][0]]["totalPrice"] * 100) == t["all_in_cents"]
        if "eventbrite" in ids:
            classes = world.json(f"/eventbrite/v3/events/{ids['eventbrite']}/ticket_classes/")
            for c in classes["ticket_classes"]:
                if c["id"] in by["eventbrite"]:
                    t = by["eventbrite"][c["id"]]["marketplaces"]["eventbrite"]
                    assert c["cost"]["value"] + c["fee"]["value"] == t["all_in_cents"]
        fair = [x["fair_cents"] for x in truth["listings"]]
        assert truth["fair_get_in_cents"] == (min(fair) if fair else None)
        assert all(x["fair_cents"] > 0 for x in truth["listings"])


def test_same_seats_on_two_marketplaces_at_different_prices(world) -> None:
    events = world.json("/_sandbox/truth/events")["events"]
    doubles = []
    for e in events[:6]:
        truth = world.json(f"/_sandbox/truth/events/{e['world_event_id']}")
        doubles += [x for x in truth["listings"] if len(x["marketplaces"]) == 2]
    assert doubles
    assert any(len({v["all_in_cents"] for v in x["marketplaces"].values()}) == 2
               for x in doubles)


def test_cancelled_and_sold_out_events() -> None:
    client = _world(events=120, listings_per_event=20)
    events = client.json("/_sandbox/truth/events")["events"]
    cancelled = next(e for e in events if e["status"] == "cancelled")
    assert client.json(f"/_sandbox/truth/events/{cancelled['world_event_id']}")["listings"] == []
    soldout = next(e for e in events if e["status"] == "soldout" and "ticketmaster" in e["ids"])
    truth = client.json(f"/_sandbox/truth/events/{soldout['world_event_id']}")
    assert all(x["kind"] == "resale" for x in truth["listings"])
