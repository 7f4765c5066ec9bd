"""Every sandbox endpoint answers in the shape of the real service's recorded response."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures_sandbox import assert_shape, fixture, shape_errors

BEARER = {"Authorization": "Bearer sandbox"}


@pytest.fixture(scope="module")
def client(sandbox) -> httpx.Client:
    with httpx.Client(timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def events(sandbox) -> list[dict]:
    return sandbox.truth()["events"]


def _first(events: list[dict], marketplace: str, status: str = "onsale") -> dict:
    return next(e for e in events if marketplace in e["ids"] and e["status"] == status)


def _get(client: httpx.Client, url: str, headers: dict | None = None) -> dict:
    r = client.get(url, headers=headers)
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return r.json()


def test_shape_helper_catches_differences() -> None:
    spec = {"a": 1, "b": {"c": "x"}, "d": [{"e": 1.5}], "n": None, "z": []}
    assert not shape_errors([spec], {"a": 2.5, "b": {"c": "y"}, "d": [], "n": 3, "z": [1]})
    assert shape_errors([spec], {"a": "1", "b": {"c": "y"}, "d": [], "z": []})
    assert shape_errors([spec], {"a": 1, "b": {}, "d": [{"e": "no"}], "z": []})


def test_ticketmaster_discovery(sandbox, client, events) -> None:
    base = sandbox.urls["ticketmaster"]
    page = _get(client, f"{base}/discovery/v2/events.json?apikey=sandbox&size=1")
    assert_shape(fixture("ticketmaster_discovery_v2_events_official_docs_size1"), page)
    e = _first(events, "ticketmaster")
    detail = _get(client, f"{base}/discovery/v2/events/{e['ids']['ticketmaster']}.json"
                          "?apikey=sandbox")
    assert_shape(fixture("ticketmaster_discovery_v2_event_details_official_docs"), detail)
    offers = _get(client, f"{base}/commerce/v2/events/{e['ids']['ticketmaster']}/offers.json"
                          "?apikey=sandbox")
    assert_shape(fixture("ticketmaster_commerce_v2_event_offers_ladygaga"), offers)
    picks = _get(client, f"{base}/top-picks/v1/events/{e['ids']['ticketmaster']}"
                         "?apikey=sandbox&size=15")
    assert picks["picks"], "an on-sale event has picks"
    assert_shape(fixture("ticketmaster_top_picks_v1_event_official_docs"), picks)


def test_seatgeek_events(sandbox, client, events) -> None:
    base = sandbox.urls["seatgeek"]
    one = fixture("seatgeek_v2_event_single_partial")
    page = _get(client, f"{base}/2/events?client_id=sandbox&venue.city=Portland&per_page=5")
    assert_shape({"events": [one], "meta": {"total": 1, "page": 1, "per_page": 1,
                                            "took": 0.1, "geolocation": None}}, page)
    e = _first(events, "seatgeek")
    assert_shape(one, _get(client, f"{base}/2/events/{e['ids']['seatgeek']}?client_id=sandbox"))
    venue = page["events"][0]["venue"]
    assert_shape(one["venue"], _get(client, f"{base}/2/venues/{venue['id']}?client_id=sandbox"))


def test_seatgeek_listings_format(sandbox, client, events) -> None:
    e = _first(events, "seatgeek")
    body = _get(client, f"{sandbox.urls['seatgeek']}/2/events/{e['ids']['seatgeek']}/listings"
                        "?client_id=sandbox&per_page=500")
    listing = {"id": 1, "event_id": 1, "section": "Section 112", "row": "Row 12",
               "seat_numbers": ["1"], "quantity": 2, "splits": [2], "price": {
                   "base": 1.0, "fees": 1.0, "all_in": 2.0, "currency": "USD"},
               "delivery_method": "mobile", "zone": "Lower", "market": "resale",
               "created_at": "2026-09-01T00:00:00Z", "url": "https://seatgeek.com/x"}
    for item in body["listings"]:  # GA listings have no row
        if item["row"] is None:
            item = {**item, "row": "GA"}
        assert_shape(listing, item)
    assert body["meta"]["total"] == len(body["listings"])
    assert {x["delivery_method"] for x in body["listings"]} <= {
        "mobile", "instant", "electronic", "will_call", "physical"}


def test_stubhub_api(sandbox, client, events) -> None:
    base = sandbox.urls["stubhub"]
    e = _first(events, "stubhub")
    sid = e["ids"]["stubhub"]
    catalog = _get(client, f"{base}/catalog/events/v3/{sid}", BEARER)
    assert_shape(fixture("stubhub_catalog_event_9371369"), catalog)
    found = _get(client, f"{base}/search/catalog/events/v3?city=Portland&rows=3", BEARER)
    assert found["numFound"] >= 3
    assert_shape(fixture("stubhub_catalog_event_9371369"), found["events"][0])
    inventory = _get(client, f"{base}/search/inventory/v2?eventId={sid}&rows=15"
                             "&sectionStats=true&zoneStats=true&pricingSummary=true", BEARER)
    assert_shape(fixture("stubhub_search_inventory_v2_listings_event9371369"), inventory)
    venue = catalog["venue"]
    config = _get(client, f"{base}/catalog/venues/v3/{venue['id']}/venueConfigurations/"
                          f"{venue['configurationId']}", BEARER)
    assert_shape(fixture("stubhub_venue_configuration_1361"), config)
    if "ticketmaster" in e["ids"]:
        assert {"namespace": "ticketmaster", "id": e["ids"]["ticketmaster"]} in \
            catalog["externalEventMappings"]


def test_eventbrite(sandbox, client, events) -> None:
    base = sandbox.urls["eventbrite"]
    orgs = _get(client, f"{base}/v3/users/me/organizations/", BEARER)["organizations"]
    assert orgs
    listed = []
    for org in orgs:
        page = _get(client, f"{base}/v3/organizations/{org['id']}/events/?status=live",
                    BEARER)
        if page["events"]:
            assert_shape(fixture("eventbrite_v3_organizations_events_list"), page)
        listed += page["events"]
    live = {e["ids"]["eventbrite"] for e in events
            if "eventbrite" in e["ids"] and e["status"] != "cancelled"}
    assert {e["id"] for e in listed} == live
    e = _first(events, "eventbrite")
    classes = _get(client, f"{base}/v3/events/{e['ids']['eventbrite']}/ticket_classes/",
                   BEARER)
    assert_shape(fixture("eventbrite_v3_event_ticket_classes"), classes)
    detail = _get(client, f"{base}/v3/events/{e['ids']['eventbrite']}/?expand=venue", BEARER)
    assert detail["venue"]["id"] == detail["venue_id"]
    token = _get(client, f"{base}/v3/events/{e['ids']['eventbrite']}/?token=sandbox")
    assert token["id"] == e["ids"]["eventbrite"]
