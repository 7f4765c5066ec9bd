"""Event identity across marketplaces: unit cases, and precision/recall on the sandbox."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crawler.identity import match_events, match_to_existing
from crawler.parsers import parse
from storage.records import EventRecord

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def ev(marketplace: str, eid: str, name: str, start: datetime | None = T0,
       venue: str | None = "Moda Center", **kw: Any) -> EventRecord:
    return EventRecord(marketplace, eid, name, start, venue_name=venue, venue_city="Portland",
                       **kw)


def test_same_game_on_four_marketplaces_is_one_event() -> None:
    records = [
        ev("ticketmaster", "vvG1a", "Portland Trail Blazers vs. Los Angeles Lakers"),
        ev("seatgeek", "62", "Los Angeles Lakers at Portland Trail Blazers",
           T0 + timedelta(minutes=30), venue="Moda Center at the Rose Quarter"),
        ev("stubhub", "104", "Portland Trail Blazers vs Los Angeles Lakers Tickets"),
        ev("eventbrite", "81", "Trail Blazers vs. Lakers", venue=None),
    ]
    [cluster] = match_events(records)
    assert {r.marketplace for r in cluster} == {"ticketmaster", "seatgeek", "stubhub",
                                                 "eventbrite"}


def test_different_events_stay_apart() -> None:
    records = [
        ev("ticketmaster", "a", "Portland Trail Blazers vs. Los Angeles Lakers"),
        ev("seatgeek", "b", "Portland Trail Blazers vs. Los Angeles Lakers",
           T0 + timedelta(days=2)),  # the next home game against the same team
        ev("seatgeek", "c", "Portland Trail Blazers vs. Boston Celtics"),  # same time, other name
        ev("stubhub", "d", "Portland Trail Blazers vs. Los Angeles Lakers",
           venue="Crystal Ballroom"),  # another venue
        ev("stubhub", "e", "Portland Trail Blazers vs. Los Angeles Lakers", None),  # TBA
    ]
    clusters = match_events(records)
    assert sorted(len(c) for c in clusters) == [1, 1, 1, 1, 1]


def test_double_header_pairs_by_time_and_one_record_per_marketplace() -> None:
    late = T0 + timedelta(hours=3)
    records = [ev("ticketmaster", "tm1", "Dana Pruitt Live"), ev("ticketmaster", "tm2",
                                                                "Dana Pruitt Live", late),
               ev("seatgeek", "sg1", "Dana Pruitt", T0 + timedelta(minutes=5)),
               ev("seatgeek", "sg2", "Dana Pruitt", late)]
    clusters = {frozenset(r.source_event_id for r in c) for c in match_events(records)}
    assert clusters == {frozenset({"tm1", "sg1"}), frozenset({"tm2", "sg2"})}


def test_cross_reference_wins_over_names() -> None:
    tm = ev("ticketmaster", "vvG1x", "Aurora Vance: The Long Night Tour")
    sh = ev("stubhub", "104", "AV in concert", T0 + timedelta(hours=5),
            cross_refs=(("ticketmaster", "vvG1x"),))
    [cluster] = match_events([tm, sh])
    assert len(cluster) == 2
    assert match_to_existing(sh, [tm]) is tm


def test_match_to_existing_picks_the_best_candidate() -> None:
    candidates = [ev("ticketmaster", "a", "Hamilton", T0 - timedelta(days=1)),
                  ev("ticketmaster", "b", "Hamilton", T0),
                  ev("ticketmaster", "c", "Wicked", T0)]
    new = ev("seatgeek", "9", "Hamilton (Touring)", T0 + timedelta(minutes=10))
    assert match_to_existing(new, candidates).source_event_id == "b"
    assert match_to_existing(ev("ticketmaster", "z", "Hamilton"), candidates) is None
    assert match_to_existing(ev("seatgeek", "8", "Cats"), candidates) is None


def _sandbox_events(base: str) -> list[EventRecord]:
    """Every event the four marketplaces list, read with the pure parsers."""
    bearer = {"Authorization": "Bearer sandbox"}
    out: list[EventRecord] = []
    with httpx.Client(base_url=base, timeout=60) as c:
        page = 0
        while True:
            body = c.get("/ticketmaster/discovery/v2/events.json",
                         params={"apikey": "sandbox", "size": 200, "page": page}).content
            parsed = parse("ticketmaster", body)
            out += parsed.events
            page += 1
            if not parsed.page.has_more:
                break
        out += parse("seatgeek", c.get("/seatgeek/2/events", params={
            "client_id": "sandbox", "per_page": 500}).content).events
        start = 0
        while True:
            parsed = parse("stubhub", c.get("/stubhub/search/catalog/events/v3", params={
                "rows": 500, "start": start}, headers=bearer).content)
            out += parsed.events
            start += 500
            if not parsed.page.has_more:
                break
        orgs = parse("eventbrite", c.get("/eventbrite/v3/users/me/organizations/",
                                         headers=bearer).content).refs
        for org in orgs:
            out += parse("eventbrite", c.get(f"/eventbrite/v3/organizations/{org}/events/",
                                             params={"expand": "venue", "page_size": 200},
                                             headers=bearer).content).events
    return out


@pytest.mark.parametrize("use_cross_refs", [True, False])
def test_precision_and_recall_on_the_sandbox(make_sandbox: Any, use_cross_refs: bool) -> None:
    box = make_sandbox(events=120, listings_per_event=1)
    records = _sandbox_events(box.base_url)
    if not use_cross_refs:  # identity from venue + time + name alone
        records = [EventRecord(**{**r.to_dict(), "cross_refs": ()}) for r in records]
    truth = box.truth()["events"]
    world = {(m, i): e["world_event_id"] for e in truth for m, i in e["ids"].items()}
    assert len(records) == len(world)

    def pairs(groups: list[list[tuple[str, str]]]) -> set[frozenset]:
        return {frozenset(p) for g in groups for p in itertools.combinations(g, 2)}

    predicted = pairs([[(r.marketplace, r.source_event_id) for r in c]
                       for c in match_events(records)])
    by_world: dict[str, list[tuple[str, str]]] = {}
    for key, world_id in world.items():
        by_world.setdefault(world_id, []).append(key)
    actual = pairs(list(by_world.values()))
    precision = len(predicted & actual) / len(predicted)
    recall = len(predicted & actual) / len(actual)
    print(f"identity precision={precision:.4f} recall={recall:.4f} pairs={len(actual)}")
    assert precision >= 0.99 and recall >= 0.99, (precision, recall)
