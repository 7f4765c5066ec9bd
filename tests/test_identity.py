"""Event identity on the ingest path (``storage.events.upsert_events``, what the ingest
writers call): the hard cases, venue identity, recorded decisions, two writers racing on a
real PostgreSQL, and precision/recall against the sandbox's truth on three seeds."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from engine.identity.quality import pairwise
from storage.events import touch_sources, upsert_events
from storage.events.assignments import event_assignments, match_decisions, venue_assignments
from storage.records import EventRecord
from tests.sandbox_events import sandbox_events

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 19:00 in Portland
PDX = "America/Los_Angeles"


def ev(marketplace: str, eid: str, name: str, start: datetime | None = T0,
       venue: str | None = "Moda Center", **kw: Any) -> EventRecord:
    kw.setdefault("venue_source_id", f"{marketplace}-{venue}" if venue else None)
    return EventRecord(marketplace, eid, name, start, venue_name=venue, venue_city="Portland",
                       timezone=PDX, **kw)


def clusters(conn: psycopg.Connection) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for (_m, sid), event in event_assignments(conn).items():
        groups.setdefault(event, set()).add(sid)
    return {frozenset(g) for g in groups.values()}


def test_team_names_three_ways_and_venue_spellings_are_one_event(db: psycopg.Connection) -> None:
    upsert_events(db, [ev("ticketmaster", "tm", "Portland Trail Blazers vs. Golden State "
                          "Warriors", performers=("Portland Trail Blazers",
                                                  "Golden State Warriors"))])
    upsert_events(db, [ev("seatgeek", "sg", "Golden State Warriors at Portland Trail Blazers",
                          T0 + timedelta(minutes=30), venue="Moda Center at the Rose Quarter")])
    upsert_events(db, [ev("stubhub", "sh", "NBA: Warriors @ Blazers")])
    upsert_events(db, [ev("eventbrite", "eb", "Trail Blazers vs. Warriors", venue=None,
                          venue_source_id="eb-moda")])
    assert clusters(db) == {frozenset({"tm", "sg", "sh", "eb"})}
    venues = venue_assignments(db)
    assert len(set(venues.values())) == 1, venues  # four spellings / ids, one venue
    assert venues[("eventbrite", "eb-moda")] == venues[("ticketmaster", "ticketmaster-Moda "
                                                                        "Center")]


def test_early_and_late_show_stay_two_events_and_pair_by_time(db: psycopg.Connection) -> None:
    late = T0 + timedelta(hours=2, minutes=30)
    upsert_events(db, [ev("eventbrite", "eb1", "Dana Pruitt Live", venue="Helium Comedy Club"),
                       ev("eventbrite", "eb2", "Dana Pruitt Live", late,
                          venue="Helium Comedy Club")])
    upsert_events(db, [ev("seatgeek", "sg2", "Dana Pruitt", late + timedelta(minutes=5),
                          venue="Helium Comedy Club"),
                       ev("seatgeek", "sg1", "Dana Pruitt", venue="Helium Comedy Club")])
    assert clusters(db) == {frozenset({"eb1", "sg1"}), frozenset({"eb2", "sg2"})}


def test_same_act_at_two_venues_and_other_acts_stay_apart(db: psycopg.Connection) -> None:
    upsert_events(db, [ev("ticketmaster", "a", "Mira Sol", venue="Crystal Ballroom"),
                       ev("ticketmaster", "b", "Portland Trail Blazers vs. Boston Celtics")])
    upsert_events(db, [ev("seatgeek", "c", "Mira Sol", T0 + timedelta(hours=1),
                          venue="Roseland Theater"),
                       ev("seatgeek", "d", "Portland Trail Blazers vs. Los Angeles Lakers"),
                       ev("seatgeek", "e", "Mira Sol", T0 + timedelta(days=1),
                          venue="Crystal Ballroom")])
    assert len(clusters(db)) == 5


def test_local_time_as_utc_and_a_dated_tba_still_match(db: psycopg.Connection) -> None:
    local_as_utc = T0 - timedelta(hours=8)  # 19:00 local given as 19:00 UTC (8 h early)
    upsert_events(db, [ev("ticketmaster", "tm1", "Hamilton", venue="Keller Auditorium"),
                       ev("ticketmaster", "tm2", "Hamilton", T0 + timedelta(days=1),
                          venue="Keller Auditorium")])
    upsert_events(db, [ev("seatgeek", "sg1", "Hamilton", local_as_utc,
                          venue="Keller Auditorium"),
                       ev("seatgeek", "sg2", "Hamilton", None, venue="Keller Auditorium",
                          start_date=(T0 + timedelta(days=1)).astimezone(ZoneInfo(PDX)).date())])
    assert clusters(db) == {frozenset({"tm1", "sg1"}), frozenset({"tm2", "sg2"})}


def test_an_undated_tba_with_two_fits_is_kept_apart_and_says_why(
        db: psycopg.Connection) -> None:
    upsert_events(db, [ev("ticketmaster", "tm1", "Hamilton", venue="Keller Auditorium"),
                       ev("ticketmaster", "tm2", "Hamilton", T0 + timedelta(days=1),
                          venue="Keller Auditorium")])
    upsert_events(db, [ev("seatgeek", "sg", "Hamilton", None, venue="Keller Auditorium")])
    assert len(clusters(db)) == 3
    sg_event = event_assignments(db)[("seatgeek", "sg")]
    [decision] = match_decisions(db, sg_event)
    assert decision.decision == "new" and "2 events fit" in decision.reason


def test_wrong_cross_reference_is_refused_and_the_reason_kept(db: psycopg.Connection) -> None:
    upsert_events(db, [ev("ticketmaster", "right", "Aurora Vance"),
                       ev("ticketmaster", "wrong", "Juniper Kings", T0 + timedelta(days=9))])
    upsert_events(db, [ev("stubhub", "sh", "Aurora Vance", cross_refs=(("ticketmaster",
                                                                        "wrong"),))])
    assert frozenset({"right", "sh"}) in clusters(db)
    event = event_assignments(db)[("stubhub", "sh")]
    reasons = [d.reason for d in match_decisions(db, event) if d.source_event_id == "sh"]
    assert any("cross-reference refused" in r and "names agree" in r for r in reasons), reasons


def test_rescheduled_event_shown_on_its_old_date_is_one_event(db: psycopg.Connection) -> None:
    new_date = T0 + timedelta(days=21)
    upsert_events(db, [ev("ticketmaster", "tm", "Juniper Kings", new_date, status="postponed")])
    upsert_events(db, [ev("stubhub", "sh", "Juniper Kings", T0, status="postponed",
                          cross_refs=(("ticketmaster", "tm"),)),
                       ev("seatgeek", "sg", "Juniper Kings", T0, status="postponed")])
    assert clusters(db) == {frozenset({"tm", "sh", "sg"})}
    starts = db.execute("SELECT starts_at FROM events").fetchall()
    assert starts == [(new_date,)]  # the matched, stale marketplaces do not move the date


def test_cancelled_event_still_joins_its_other_listings(db: psycopg.Connection) -> None:
    upsert_events(db, [ev("ticketmaster", "tm", "Neon Harbor", status="cancelled")])
    upsert_events(db, [ev("seatgeek", "sg", "Neon Harbor", status="cancelled")])
    assert clusters(db) == {frozenset({"tm", "sg"})}


def test_every_new_source_has_a_recorded_decision(db: psycopg.Connection) -> None:
    upsert_events(db, [ev("ticketmaster", "tm", "Static Pines")])
    upsert_events(db, [ev("seatgeek", "sg", "Static Pines", T0 + timedelta(minutes=10))])
    upsert_events(db, [ev("seatgeek", "sg", "Static Pines", T0 + timedelta(minutes=10))])
    event = event_assignments(db)[("seatgeek", "sg")]
    got = [(d.source_event_id, d.decision) for d in match_decisions(db, event)]
    assert got == [("tm", "new"), ("sg", "matched")]  # a re-crawl decides nothing again
    matched = match_decisions(db, event)[1]
    assert matched.score and matched.score > 80 and "starts 10 min apart" in matched.reason


def test_a_touched_source_moves_its_last_sighting_and_nothing_else(db: psycopg.Connection,
                                                                   ) -> None:
    upsert_events(db, [ev("ticketmaster", "tm", "Static Pines")])
    upsert_events(db, [ev("seatgeek", "sg", "Static Pines", T0 + timedelta(minutes=10))])
    db.commit()

    def rows() -> dict[str, tuple[Any, ...]]:
        return {r[0]: r[1:] for r in db.execute(
            "SELECT s.source_event_id, s.last_seen_at, s.xmin::text, e.xmin::text, s.name "
            "FROM event_sources s JOIN events e ON e.id = s.event_id")}

    before = rows()
    assert touch_sources(db, [("seatgeek", "sg"), ("seatgeek", "never-seen")]) == 1
    db.commit()
    after = rows()
    assert after["sg"][0] > before["sg"][0]  # the buy link's freshness moved
    assert after["sg"][2:] == before["sg"][2:]  # its event and record untouched
    assert after["tm"] == before["tm"]


def test_two_writers_racing_on_the_same_new_events_create_each_once(db_url: str) -> None:
    """Two ingest writers (Ticketmaster's and SeatGeek's shards) see the same 40 new events
    at the same moment: each must exist once, with both sources."""
    n = 40
    shows = [(f"Act {i:02d} Orchestra", T0 + timedelta(days=i)) for i in range(n)]
    batches = {m: [ev(m, f"{m[:2]}{i}", name, start) for i, (name, start) in enumerate(shows)]
               for m in ("ticketmaster", "seatgeek")}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(marketplace: str) -> None:
        try:
            with psycopg.connect(db_url) as conn:
                barrier.wait()
                upsert_events(conn, batches[marketplace])
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(m,)) for m in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (n,)
        assert len(clusters(conn)) == n
        assert all(len(c) == 2 for c in clusters(conn))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 11, 23])
def test_precision_and_recall_against_the_sandbox_truth(make_sandbox: Any, db: psycopg.Connection,
                                                        seed: int) -> None:
    """The default world (120 events, hard cases on) parsed by the production parsers and
    written as the ingest writers do (shards of 8 events, marketplaces interleaved)."""
    box = make_sandbox(seed=seed, events=120, listings_per_event=1)
    records = sandbox_events(box.base_url)
    truth = box.truth()["events"]
    by_market: dict[str, list[EventRecord]] = {}
    for r in records:
        by_market.setdefault(r.marketplace, []).append(r)
    per_market = [[rs[i:i + 8] for i in range(0, len(rs), 8)] for rs in by_market.values()]
    for turn in itertools.zip_longest(*per_market):  # the marketplaces' shards interleaved
        for shard in turn:
            if shard:
                upsert_events(db, shard)
    true_events = {(m, i): e["world_event_id"] for e in truth for m, i in e["ids"].items()}
    true_venues = {(m, i): e["venue_key"] for e in truth for m, i in e["venue_ids"].items()}
    events = pairwise(event_assignments(db), true_events)
    venues = pairwise({**{k: k for k in true_venues}, **venue_assignments(db)}, true_venues)
    print(f"seed {seed}: events {events} venues {venues}")
    assert events["records"] == len(true_events) == len(records)
    assert any(e["identity_cases"] for e in truth)
    assert events["precision"] >= 0.995 and events["recall"] >= 0.995, events
    assert venues["precision"] >= 0.995 and venues["recall"] >= 0.995, venues
