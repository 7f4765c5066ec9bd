"""Every real marketplace response in the shared fixtures parses unchanged, to the values
a person would read off it; hostile variants of the same endpoints degrade gracefully."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.parsers import Parsed, ParseError, parse
from storage.records import LISTING_SCHEMA
from tests.fixtures_sandbox import FIXTURES

ROOT = Path(__file__).resolve().parent.parent


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def rows(parsed: Parsed) -> list[dict[str, Any]]:
    assert parsed.listings.schema.equals(LISTING_SCHEMA)
    return parsed.listings.to_pylist()


def test_every_fixture_parses_with_its_marketplace() -> None:
    files = sorted(FIXTURES.glob("*.json"))
    assert len(files) >= 10
    for path in files:
        marketplace = path.name.split("_")[0]
        parsed = parse(marketplace, path.read_bytes(), source=str(path))
        assert not parsed.rejects, (path.name, parsed.rejects)


def test_ticketmaster_top_picks_fees_add_up() -> None:
    parsed = parse("ticketmaster", (FIXTURES / "ticketmaster_top_picks_v1_event_official_docs"
                                               ".json").read_bytes())
    [listing] = rows(parsed)
    assert (listing["price_cents"], listing["fees_cents"], listing["total_cents"]) == \
        (7650, 1675, 9325)
    assert listing["section"] == "103" and listing["row"] == "18"
    assert listing["seats"] == "1-2" and listing["quantity"] == 2
    assert listing["kind"] == "primary" and listing["zone"] == "LOWER BOWL"
    assert listing["listing_id"] == "GJ6DC7BQ:103:18:1,2"
    assert listing["source_event_id"] == "1C00506FB56F338A"  # from the pick's map URL
    assert parsed.page.total_items == 35 and parsed.page.number == 2


def test_ticketmaster_commerce_offers_become_price_points() -> None:
    parsed = parse("ticketmaster", load("ticketmaster_commerce_v2_event_offers_ladygaga.json"))
    assert parsed.listings.num_rows == 0
    [stats] = parsed.stats
    assert stats.source_event_id == "G5vYZfNi53_zo"
    assert (stats.lowest_base_cents, stats.lowest_cents, stats.highest_cents) == \
        (5050, 7000, 150000)


def test_ticketmaster_discovery_search_and_details() -> None:
    search = parse("ticketmaster", load("ticketmaster_discovery_v2_events_official_docs_size1"
                                        ".json"))
    [event] = search.events
    assert event.source_event_id == "vvG1VZKS5pr1qy"
    assert event.name == "WGC Cadillac Championship - Sunday Ticket"
    assert event.starts_at is None  # timeTBA: no start time is better than a wrong one
    assert (event.venue_name, event.venue_city) == ("Trump National Doral", "Miami")
    assert event.status == "offsale" and event.category == "golf"
    assert search.stats == []  # no priceRanges, and that is normal
    assert search.page.total_pages == 87958 and search.page.has_more

    details = parse("ticketmaster", load("ticketmaster_discovery_v2_event_details_official_docs"
                                         ".json"))
    [event] = details.events
    assert event.name == "Radiohead" and event.starts_at.isoformat() == \
        "2016-07-27T23:30:00+00:00"
    assert event.venue_name == "Madison Square Garden" and event.timezone == "America/New_York"
    [stats] = details.stats
    assert (stats.lowest_base_cents, stats.highest_cents) == (8000, 8000)


def test_ticketmaster_inventory_status_reads_as_nothing() -> None:
    parsed = parse("ticketmaster", load("ticketmaster_inventory_status_v1_availability_"
                                        "official_docs.json"))
    assert parsed.endpoint == "inventory_status" and parsed.listings.num_rows == 0


def test_seatgeek_event_stats() -> None:
    parsed = parse("seatgeek", load("seatgeek_v2_event_single_partial.json"))
    [event] = parsed.events
    assert (event.source_event_id, event.name) == ("3740162", "Lady Gaga")
    assert event.starts_at.isoformat() == "2017-08-14T02:00:00+00:00"
    assert (event.venue_name, event.venue_city, event.category) == \
        ("AT&T Park", "San Francisco", "concert")
    [stats] = parsed.stats
    assert (stats.lowest_cents, stats.average_cents, stats.highest_cents,
            stats.listing_count) == (7700, 23800, 574300, 7078)
    page = parse("seatgeek", {"events": [load("seatgeek_v2_event_single_partial.json")],
                              "meta": {"total": 1001, "page": 1, "per_page": 500}})
    assert page.page.total_pages == 3 and page.page.has_more


def test_eventbrite_events_and_ticket_classes() -> None:
    parsed = parse("eventbrite", load("eventbrite_v3_organizations_events_list.json"))
    assert [e.source_event_id for e in parsed.events] == \
        ["12122222111111", "2222333332323232", "44454545454545454"]
    first = parsed.events[0]
    assert first.name == "Test Burlesque Expo"
    assert first.starts_at.isoformat() == "2021-09-03T19:00:00+00:00"
    assert first.venue_source_id == "60633617" and not parsed.page.has_more

    classes = parse("eventbrite", load("eventbrite_v3_event_ticket_classes.json"))
    [listing] = rows(classes)  # the free, hidden guest-list class is not for sale
    assert listing["listing_id"] == "278648077"
    assert (listing["price_cents"], listing["fees_cents"], listing["total_cents"]) == \
        (10000, 772, 10772)
    assert listing["quantity"] == 300 and listing["section"] == "GA"
    assert listing["source_event_id"] == "12122222111111" and listing["kind"] == "primary"


def test_stubhub_catalog_event_with_cross_reference() -> None:
    parsed = parse("stubhub", load("stubhub_catalog_event_9371369.json"))
    [event] = parsed.events
    assert event.source_event_id == "9371369"
    assert event.name == "Milwaukee Bucks at Philadelphia 76ers"
    assert event.starts_at.isoformat() == "2016-08-18T21:00:00+00:00"
    assert (event.venue_name, event.venue_city) == ("Wells Fargo Center PA", "Philadelphia")
    assert event.cross_refs == (("zv", "373459092"),) and event.category == "basketball"


def test_stubhub_inventory_buyer_vs_seller_price() -> None:
    parsed = parse("stubhub", load("stubhub_search_inventory_v2_listings_event9371369.json"))
    listings = rows(parsed)
    assert len(listings) == 15
    first = listings[0]
    assert first["listing_id"] == "1192865774" and first["source_event_id"] == "9371369"
    assert (first["price_cents"], first["fees_cents"], first["total_cents"]) == (1100, 437, 1537)
    assert (first["section"], first["row"], first["quantity"], first["seats"]) == \
        ("112", "12", 1, None)
    second = listings[1]
    assert (second["seats"], second["splits"], second["total_cents"]) == ("11-14", "2,4", 9025)
    assert {x["zone"] for x in listings} == {"Lower Center"}
    assert sum(x["quantity"] for x in listings) == 33
    [stats] = parsed.stats
    assert (stats.lowest_base_cents, stats.listing_count) == (1100, 15)


def test_stubhub_venue_configuration_reads_as_nothing() -> None:
    parsed = parse("stubhub", load("stubhub_venue_configuration_1361.json"))
    assert parsed.endpoint == "venue_configuration"


# --- hostile variants of the same endpoints ---------------------------------------------------

def _stringify_numbers(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _stringify_numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_stringify_numbers(v) for v in obj]
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return str(obj)
    return obj


def test_numbers_as_strings_parse_the_same() -> None:
    data = load("stubhub_search_inventory_v2_listings_event9371369.json")
    plain = rows(parse("stubhub", data))
    stringly = rows(parse("stubhub", _stringify_numbers(data)))
    for a, b in zip(plain, stringly, strict=True):
        a.pop("observed_at"), b.pop("observed_at")
        assert a == b
    picks = _stringify_numbers(load("ticketmaster_top_picks_v1_event_official_docs.json"))
    assert rows(parse("ticketmaster", picks))[0]["total_cents"] == 9325


def test_missing_optional_keys_nulls_and_extra_keys() -> None:
    data = load("stubhub_search_inventory_v2_listings_event9371369.json")
    for listing in data["listing"]:
        for key in ("zoneName", "splitVector", "deliveryTypeList", "seatNumbers", "sectionId"):
            listing.pop(key, None)
        listing["row"] = None
        listing["brandNewKey"] = {"nested": [1, 2]}
    data.pop("pricingSummary")
    data["surprise"] = None
    listings = rows(parse("stubhub", data))
    assert len(listings) == 15 and all(x["row"] is None for x in listings)
    event = load("ticketmaster_discovery_v2_event_details_official_docs.json")
    for key in ("priceRanges", "_embedded", "classifications", "url", "dates"):
        event.pop(key)
    event["type"] = "event"
    [record] = parse("ticketmaster", event).events
    assert record.name == "Radiohead" and record.starts_at is None and record.venue_name is None


def test_empty_lists_and_empty_pages() -> None:
    assert parse("seatgeek", {"listings": [], "meta": {"total": 0, "page": 1, "per_page": 500}}
                 ).listings.num_rows == 0
    assert parse("ticketmaster", {"page": {"size": 20, "totalElements": 0, "totalPages": 0,
                                           "number": 0}, "_links": {}}).events == []
    assert parse("stubhub", {"numFound": 0, "events": []}).events == []
    assert parse("eventbrite", {"pagination": {"has_more_items": False}, "ticket_classes": []}
                 ).listings.num_rows == 0


def test_bad_records_are_quarantined_and_the_rest_kept() -> None:
    data = load("stubhub_search_inventory_v2_listings_event9371369.json")
    bad = copy.deepcopy(data["listing"][:4])
    bad[0].pop("currentPrice"), bad[0].pop("listingPrice")
    bad[1]["quantity"] = -2
    bad[2]["sectionName"] = bad[2]["sellerSectionName"] = "N/A"
    bad[3] = "not an object"
    data["listing"].extend(bad)
    parsed = parse("stubhub", data, source="https://api.example/inventory")
    assert parsed.listings.num_rows == 15
    reasons = sorted(r.reason for r in parsed.rejects)
    assert reasons == ["listing is not an object", "missing price", "negative quantity",
                       "unknown section"]
    assert all(r.raw and r.source == "https://api.example/inventory" for r in parsed.rejects)


def test_seatgeek_listing_with_impossible_date_is_quarantined() -> None:
    good = {"id": 1, "event_id": 9, "section": "Sec 112", "row": "Row 5", "seat_numbers": ["1"],
            "quantity": 1, "splits": [1], "price": {"base": 10, "fees": "2.5", "all_in": 12.5,
                                                    "currency": "USD"},
            "delivery_method": "mobile", "zone": "Lower", "market": "resale",
            "created_at": "2026-09-01T10:00:00Z"}
    bad = {**good, "id": 2, "created_at": "2026-13-45T99:99:99Z"}
    parsed = parse("seatgeek", {"listings": [good, bad], "meta": {"total": 2}})
    [listing] = rows(parsed)
    assert (listing["price_cents"], listing["fees_cents"], listing["total_cents"]) == \
        (1000, 250, 1250)
    assert listing["section"] == "112" and listing["row"] == "5"
    assert [r.reason for r in parsed.rejects] == ["impossible date"]


def test_amounts_and_quantities_out_of_range_are_refused_beside_good_listings() -> None:
    """A price or a count no column can hold refuses its listing, not the page."""
    good = {"id": 1, "event_id": 9, "section": "Sec 112", "row": "Row 5", "seat_numbers": ["1"],
            "quantity": 2, "price": {"base": 10, "fees": 2.5, "all_in": 12.5}}
    listings = [good,
                {**good, "id": 2, "quantity": 3_000_000_000},
                {**good, "id": 3, "quantity": 10**30},
                {**good, "id": 4, "price": {"base": 10, "fees": 2.5, "all_in": 1e300}},
                {**good, "id": 5, "price": {"base": "1e300", "fees": 2.5, "all_in": 12.5}},
                {**good, "id": 6, "price": {"base": 10, "fees": 2.5, "all_in": 12.345}},
                {**good, "id": 7, "price": {"base": 10**18, "fees": 2.5, "all_in": 12.5}}]
    parsed = parse("seatgeek", {"listings": listings, "meta": {"total": len(listings)}})
    kept = {x["listing_id"]: (x["quantity"], x["total_cents"]) for x in rows(parsed)}
    assert kept == {"1": (2, 1250), "6": (2, 1235)}  # 12.345 rounds half up, exactly
    # each with its listing's fragment (as Python's repr where JSON cannot hold a number)
    refused = [(r.reason, re.search(r"""["']id["']: ?(\d+)""", r.raw)) for r in parsed.rejects]
    assert sorted((reason, int(m[1])) for reason, m in refused) == [
        ("price out of range", 4), ("price out of range", 5), ("price out of range", 7),
        ("quantity out of range", 2), ("quantity out of range", 3)]


def test_a_boolean_is_no_amount() -> None:
    """``true`` where Top Picks gives a price is not $1 (Arrow would read it so): the
    listing's price is missing, derived from the others where they give it."""
    def pick(i: int) -> dict[str, Any]:
        return {"id": f"p{i}", "offers": [f"o{i}"], "seats": ["1", "2"], "section": "112",
                "row": "5", "selection": "resale"}

    def offer(i: int, face: Any, total: Any, charge: Any) -> dict[str, Any]:
        return {"offerId": f"o{i}", "faceValue": face, "totalPrice": total,
                "charges": [{"amount": charge}], "currency": "USD"}

    page = {"picks": [pick(i) for i in range(3)],
            "_embedded": {"offer": [offer(0, 50.0, 57.5, 7.5), offer(1, 50.0, True, 7.5),
                                    offer(2, True, True, True)]},
            "page": {"number": 0, "size": 3, "totalElements": 3, "totalPages": 1}}
    parsed = parse("ticketmaster", page, event_id="E1")
    assert {x["listing_id"]: x["total_cents"] for x in rows(parsed)} == {"p0": 5750, "p1": 5750}
    assert [r.reason for r in parsed.rejects] == ["missing price"]


@pytest.mark.parametrize(("marketplace", "body"), [
    ("seatgeek", b"<html>gateway timeout</html>"), ("ticketmaster", b'{"events": ['),
    ("eventbrite", b'{"status_code": 401, "error": "INVALID_AUTH", "error_description": "x"}'),
    ("ticketmaster", b'{"fault": {"faultstring": "Invalid ApiKey"}}'),
    ("stubhub", b'["just", "a", "list"]'), ("stubhub", b"<html><body>no listings</body></html>"),
])
def test_unreadable_responses_raise_parse_error(marketplace: str, body: bytes) -> None:
    with pytest.raises(ParseError):
        parse(marketplace, body)


def test_cli_prints_json_lines_and_fails_clearly(tmp_path: Path) -> None:
    fixture = FIXTURES / "ticketmaster_top_picks_v1_event_official_docs.json"
    out = subprocess.run([sys.executable, "-m", "crawler.parsers", "ticketmaster",
                          str(fixture)], capture_output=True, text=True, cwd=ROOT, check=True)
    [line] = out.stdout.splitlines()
    record = json.loads(line)
    assert record["kind"] == "listing" and record["total_cents"] == 9325
    assert record["listing_kind"] == "primary"

    details = FIXTURES / "seatgeek_v2_event_single_partial.json"
    out = subprocess.run([sys.executable, "-m", "crawler.parsers", "seatgeek", str(details)],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert [json.loads(x)["kind"] for x in out.stdout.splitlines()] == ["event", "price_stats"]

    broken = tmp_path / "broken.json"
    broken.write_text('{"listings": [')
    out = subprocess.run([sys.executable, "-m", "crawler.parsers", "seatgeek", str(broken)],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    assert out.returncode == 1 and "cannot parse as seatgeek" in out.stderr
    assert out.stdout == ""


@pytest.mark.parametrize("marketplace", ["seatgeek", "stubhub", "ticketmaster"])
def test_a_clean_page_reads_the_same_column_wise_as_one_by_one(
        marketplace: str, sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole clean pages take the column-wise path; what it reads is exactly what the
    listing-by-listing path (the one malformed pages take) reads from the same page."""
    import httpx

    from crawler.parsers import seatgeek, stubhub, ticketmaster

    module = {"seatgeek": seatgeek, "stubhub": stubhub, "ticketmaster": ticketmaster}[marketplace]
    event = next(e for e in sandbox.truth()["events"] if marketplace in e["ids"])
    sid, base = event["ids"][marketplace], sandbox.urls[marketplace]
    if marketplace == "seatgeek":
        page = httpx.get(f"{base}/2/events/{sid}/listings",
                         params={"client_id": sandbox.credentials["seatgeek"]}).json()
        page["listings"][0]["id"] = str(page["listings"][0]["id"])  # ids as either
        page["listings"][1]["row"] = None
        page["listings"][2]["price"].pop("fees")  # implied by base and all-in
    elif marketplace == "ticketmaster":
        page = httpx.get(f"{base}/top-picks/v1/events/{sid}",
                         params={"apikey": sandbox.credentials["ticketmaster"], "size": 100}
                         ).json()
        page["picks"][0].pop("area")
        page["picks"][1]["quantity"] = 9  # the seller's count wins over the seats listed
        page["picks"][2]["selection"] = "standard"
    else:
        page = httpx.get(f"{base}/search/inventory/v2", params={"eventId": sid, "rows": 100},
                         headers={"Authorization": f"Bearer {sandbox.credentials['stubhub']}"}
                         ).json()
        page["listing"][0]["currentPrice"].pop("currency")  # the seller price's is used
        page["listing"][0]["listingPrice"]["currency"] = "cad"
        page["listing"][1]["quantity"] = -1  # refused by the batch check, either path
    at = datetime(2026, 10, 1, 12, tzinfo=UTC)
    slow: list[Any] = []
    monkeypatch.setattr(module, "_one_by_one", lambda *args: slow.append(args))
    column_wise = parse(marketplace, copy.deepcopy(page), event_id=str(sid), observed_at=at)
    assert not slow  # the clean page took the column-wise path
    monkeypatch.undo()
    monkeypatch.setattr(module, "_usual_shape", lambda *_args: False)
    one_by_one = parse(marketplace, copy.deepcopy(page), event_id=str(sid), observed_at=at)
    assert column_wise.listings.num_rows > 10
    if marketplace == "stubhub":
        assert column_wise.listings["currency"][0].as_py() == "CAD"
    assert column_wise.listings.equals(one_by_one.listings)
    assert [(r.reason, r.raw) for r in column_wise.rejects] == \
        [(r.reason, r.raw) for r in one_by_one.rejects]


def test_a_page_with_one_malformed_listing_keeps_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One listing that is not the usual shape sends its page down the listing-by-listing
    path: that listing is refused with its reason, the others are kept."""
    from crawler.parsers import seatgeek

    good = {"id": 1, "event_id": 9, "section": "Sec 112", "row": "Row 5", "quantity": 2,
            "price": {"base": 10, "fees": 2.5, "all_in": 12.5, "currency": "USD"},
            "created_at": "2026-09-01T10:00:00Z"}
    page = {"listings": [good, {**good, "id": 2, "price": "12.50"},
                         {**good, "id": 3, "created_at": "2026-09-01 10:00"}, "junk"]}
    calls = []
    one_by_one = seatgeek._one_by_one
    monkeypatch.setattr(seatgeek, "_one_by_one", lambda *a: calls.append(1) or one_by_one(*a))
    parsed = parse("seatgeek", page)
    assert calls == [1]
    assert [r["listing_id"] for r in rows(parsed)] == ["1", "2", "3"]
    assert [r.reason for r in parsed.rejects] == ["listing is not an object"]


def test_reading_a_page_looks_for_no_module(sandbox) -> None:
    """Parsing a listings page and scoring-style Arrow calls with Python scalars import
    nothing once warm: Arrow's type inference imports dateutil, and without it installed
    (a declared dependency) the failed import searched sys.path again on every call."""
    import importlib.abc

    import httpx
    import pyarrow as pa
    import pyarrow.compute as pc

    event = next(e for e in sandbox.truth()["events"] if "seatgeek" in e["ids"])
    page = httpx.get(f"{sandbox.urls['seatgeek']}/2/events/{event['ids']['seatgeek']}/listings",
                     params={"client_id": sandbox.credentials["seatgeek"]}).content

    def work() -> None:
        parse("seatgeek", page, event_id="1")
        pc.add(pa.array([1, 2]), 3)  # a Python scalar: its type is inferred

    looked: list[str] = []

    class Spy(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> None:
            looked.append(name)

    work()
    spy = Spy()
    sys.meta_path.insert(0, spy)
    try:
        work()
    finally:
        sys.meta_path.remove(spy)
    assert looked == []
