"""The write path: quarantine, idempotent re-ingest, change detection (new / price / gone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storage.ingest import (
    mark_gone,
    upsert_events,
    write_price_stats,
    write_rejects,
    write_snapshots,
)
from storage.records import EventRecord, PriceStats, Reject
from tests.fixtures_db import listing_batch

T0 = datetime(2026, 11, 24, 20, tzinfo=UTC)


@pytest.fixture
def event_id(db: psycopg.Connection) -> int:
    ids = upsert_events(db, [EventRecord(
        marketplace="seatgeek", source_event_id="SG1", name="Trail Blazers vs. Lakers",
        starts_at=T0 + timedelta(days=3), venue_name="Moda Center", venue_city="Portland")])
    db.commit()
    return ids[("seatgeek", "SG1")]


def _count(db: psycopg.Connection, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_bad_rows_are_quarantined_and_good_rows_kept(
    db: psycopg.Connection, event_id: int
) -> None:
    batch = listing_batch([
        {"observed_at": T0, "listing_id": "ok1"},
        {"observed_at": T0, "listing_id": "ok2", "price_cents": 5_000},
        {"observed_at": T0, "listing_id": "noprice", "price_cents": None},
        {"observed_at": T0, "listing_id": "zeroqty", "quantity": 0},
        {"observed_at": T0, "listing_id": "unknown", "source_event_id": "nope"},
        {"observed_at": T0, "listing_id": "cheaptotal", "total_cents": 1},
    ])
    result = write_snapshots(db, batch)
    db.commit()
    assert result.quarantined == 4
    assert result.inserted == 2
    assert sorted(result.new_listings.column("listing_id").to_pylist()) == ["ok1", "ok2"]
    reasons = dict(db.execute("SELECT listing_id, reason FROM quarantine").fetchall())
    assert reasons == {"noprice": "null price", "zeroqty": "quantity not positive",
                       "unknown": "unknown event", "cheaptotal": "total below price"}
    assert _count(db, "listings_current") == 2


def test_same_batch_twice_writes_nothing_twice(db: psycopg.Connection, event_id: int) -> None:
    batch = listing_batch([{"observed_at": T0, "listing_id": f"L{i}"} for i in range(50)])
    first = write_snapshots(db, batch)
    again = write_snapshots(db, batch)
    db.commit()
    assert first.inserted == 50
    assert again.inserted == 0
    assert _count(db, "listing_snapshots") == 50
    # a retry reports the same changes, so downstream alerting sees them exactly once
    assert again.new_listings.num_rows == 50


def test_change_detection_new_price_change_and_gone(
    db: psycopg.Connection, event_id: int
) -> None:
    first = listing_batch([
        {"observed_at": T0, "listing_id": "a", "price_cents": 10_000},
        {"observed_at": T0, "listing_id": "b", "price_cents": 20_000},
        {"observed_at": T0, "listing_id": "c", "price_cents": 30_000},
    ])
    r1 = write_snapshots(db, first, complete=True)
    assert r1.new_listings.num_rows == 3 and r1.price_changes.num_rows == 0

    later = T0 + timedelta(hours=1)
    second = listing_batch([
        {"observed_at": later, "listing_id": "a", "price_cents": 10_000},
        {"observed_at": later, "listing_id": "b", "price_cents": 15_000},
        {"observed_at": later, "listing_id": "d", "price_cents": 9_000},
    ])
    r2 = write_snapshots(db, second, complete=True)
    db.commit()
    assert r2.new_listings.column("listing_id").to_pylist() == ["d"]
    change = r2.price_changes.to_pylist()
    assert [(c["listing_id"], c["old_total_cents"], c["total_cents"]) for c in change] == [
        ("b", 22_000, 17_000)]
    assert r2.gone.column("listing_id").to_pylist() == ["c"]
    assert r2.unchanged == 1
    # only new and changed observations became snapshot rows: a, b, c, then b', d
    assert _count(db, "listing_snapshots") == 5
    gone_at = db.execute(
        "SELECT gone_at FROM listings_current WHERE listing_id = 'c'").fetchone()[0]
    assert gone_at == later


def test_mark_gone_for_a_complete_crawl(db: psycopg.Connection, event_id: int) -> None:
    write_snapshots(db, listing_batch([
        {"observed_at": T0, "listing_id": "x"}, {"observed_at": T0, "listing_id": "y"}]))
    gone = mark_gone(db, "seatgeek", "SG1", ["x"], T0 + timedelta(minutes=5))
    db.commit()
    assert gone.column("listing_id").to_pylist() == ["y"]
    assert mark_gone(db, "seatgeek", "SG1", ["x"], T0 + timedelta(minutes=6)).num_rows == 0


def test_events_match_across_marketplaces(db: psycopg.Connection, event_id: int) -> None:
    ids = upsert_events(db, [
        EventRecord(marketplace="ticketmaster", source_event_id="TM9",
                    name="Portland Trail Blazers v Los Angeles Lakers",
                    starts_at=T0 + timedelta(days=3, minutes=30), venue_name="MODA CENTER"),
        EventRecord(marketplace="stubhub", source_event_id="SH5", name="Lakers at Blazers",
                    starts_at=None, cross_refs=(("seatgeek", "SG1"),)),
        EventRecord(marketplace="ticketmaster", source_event_id="TM10",
                    name="Some Concert", starts_at=T0 + timedelta(days=3),
                    venue_name="Moda Center"),
    ])
    assert ids[("ticketmaster", "TM9")] == event_id
    assert ids[("stubhub", "SH5")] == event_id
    assert ids[("ticketmaster", "TM10")] != event_id


def test_price_stats_and_rejects(db: psycopg.Connection, event_id: int) -> None:
    stats = [PriceStats(observed_at=T0, marketplace="seatgeek", source_event_id="SG1",
                        lowest_cents=9_000, median_cents=15_000, listing_count=40),
             PriceStats(observed_at=T0, marketplace="seatgeek", source_event_id="nope")]
    assert write_price_stats(db, stats) == 1
    assert write_price_stats(db, stats[:1]) == 1  # idempotent upsert
    assert write_rejects(db, [Reject(observed_at=T0, marketplace="stubhub",
                                     source="http://x", reason="bad json", raw="{")]) == 1
    db.commit()
    assert _count(db, "event_price_stats") == 1
    assert sorted(r[0] for r in db.execute("SELECT reason FROM quarantine")) == [
        "bad json", "unknown event"]


def _seen(db: psycopg.Connection) -> dict[str, tuple[datetime, datetime]]:
    """Each listing's stored last_seen and when it was really last seen."""
    return {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT listing_id, last_seen, listing_last_seen(c) FROM listings_current c")}


def test_complete_recrawl_writes_nothing_for_unchanged_listings_yet_they_count_as_seen(
    db: psycopg.Connection, event_id: int
) -> None:
    import pyarrow as pa

    from storage.ingest.classify import STATE_SCHEMA
    from storage.ingest.state import cache_for, read_event_state
    from tests.listing_reads import event_listings

    def crawl(minutes: int, ids: list[str]) -> None:
        db.commit()  # the writer's own transaction: what it commits is what it caches
        write_snapshots(db, listing_batch([
            {"observed_at": T0 + timedelta(minutes=minutes), "listing_id": i} for i in ids]),
            complete=True, touch_interval_s=0)
        db.commit()

    crawl(0, ["a", "b"])
    versions = dict(db.execute("SELECT listing_id, xmin::text FROM listings_current"))
    crawl(5, ["a", "b"])
    # no listing row was rewritten, but both were seen at minute 5
    assert dict(db.execute("SELECT listing_id, xmin::text FROM listings_current")) == versions
    assert _seen(db) == {"a": (T0, T0 + timedelta(minutes=5)),
                         "b": (T0, T0 + timedelta(minutes=5))}
    assert [r.last_seen for r in event_listings(db, event_id)] == [T0 + timedelta(minutes=5)] * 2

    crawl(10, ["a"])  # b is gone: it keeps the last crawl that saw it
    assert _seen(db) == {"a": (T0, T0 + timedelta(minutes=10)),
                         "b": (T0 + timedelta(minutes=5), T0 + timedelta(minutes=5))}
    crawl(15, ["a", "b"])  # b is back
    assert _seen(db)["b"] == (T0 + timedelta(minutes=15), T0 + timedelta(minutes=15))

    def rows(t: pa.Table) -> list[dict]:
        return sorted(t.to_pylist(), key=lambda r: r["listing_id"])

    with db.cursor() as cur:  # the writer's cache agrees with the database
        fresh = read_event_state(cur, [event_id], ["seatgeek"]).select(STATE_SCHEMA.names)
    assert rows(cache_for(db).take([event_id], pa.array(["seatgeek"]))) == rows(fresh)


def test_complete_crawl_over_several_observation_times_counts_from_its_first(
    db: psycopg.Connection, event_id: int
) -> None:
    import pyarrow as pa

    from storage.ingest.classify import STATE_SCHEMA
    from storage.ingest.state import cache_for, read_event_state

    def crawl(minutes: list[int]) -> None:
        db.commit()
        write_snapshots(db, listing_batch([
            {"observed_at": T0 + timedelta(minutes=m), "listing_id": f"p{i}"}
            for i, m in enumerate(minutes)]), complete=True)
        db.commit()

    crawl([0, 0])
    crawl([10, 11])  # pages of one crawl, a minute apart: both seen by minute 10 at least
    assert {k: v[1] for k, v in _seen(db).items()} == {
        "p0": T0 + timedelta(minutes=10), "p1": T0 + timedelta(minutes=10)}
    with db.cursor() as cur:  # the writer's cache agrees with the database
        fresh = read_event_state(cur, [event_id], ["seatgeek"]).select(STATE_SCHEMA.names)
    cached = cache_for(db).take([event_id], pa.array(["seatgeek"]))
    assert sorted(cached.to_pylist(), key=lambda r: r["listing_id"]) == \
        sorted(fresh.to_pylist(), key=lambda r: r["listing_id"])


def test_mark_gone_counts_the_listings_it_saw_as_seen(
    db: psycopg.Connection, event_id: int
) -> None:
    write_snapshots(db, listing_batch([
        {"observed_at": T0, "listing_id": "x"}, {"observed_at": T0, "listing_id": "y"}]))
    later = T0 + timedelta(hours=2)
    # a later crawl in pages (not complete, unchanged within the resolution: not touched)
    write_snapshots(db, listing_batch([{"observed_at": later, "listing_id": "x"}]),
                    touch_interval_s=86_400)
    assert _seen(db)["x"] == (T0, T0)
    mark_gone(db, "seatgeek", "SG1", ["x"], later)
    db.commit()
    assert _seen(db) == {"x": (T0, later), "y": (T0, T0)}
    # an older crawl's late mark_gone cannot take x away
    assert mark_gone(db, "seatgeek", "SG1", [], T0 + timedelta(hours=1)).num_rows == 0


def test_duplicate_listing_in_one_batch_keeps_latest(
    db: psycopg.Connection, event_id: int
) -> None:
    batch = listing_batch([
        {"observed_at": T0, "listing_id": "dup", "price_cents": 1_000},
        {"observed_at": T0 + timedelta(seconds=5), "listing_id": "dup", "price_cents": 2_000},
    ])
    result = write_snapshots(db, batch)
    db.commit()
    assert result.inserted == 1
    assert db.execute("SELECT price_cents FROM listings_current").fetchone()[0] == 2_000


def test_retried_price_change_is_reported_again_and_older_rows_ignored(
    db: psycopg.Connection, event_id: int
) -> None:
    write_snapshots(db, listing_batch([{"observed_at": T0, "listing_id": "a"}]))
    later = listing_batch([{"observed_at": T0 + timedelta(hours=1), "listing_id": "a",
                            "price_cents": 12_000}])
    first = write_snapshots(db, later)
    again = write_snapshots(db, later)
    older = write_snapshots(db, listing_batch([
        {"observed_at": T0 + timedelta(minutes=30), "listing_id": "a", "price_cents": 1}]))
    db.commit()
    assert first.inserted == 1 and again.inserted == 0
    assert again.price_changes.to_pylist() == first.price_changes.to_pylist()
    assert first.price_changes.column("old_total_cents").to_pylist() == [12_000]
    assert older.stale == 1 and older.inserted == 0 and not older.changed
    assert _count(db, "listing_snapshots") == 2
    assert db.execute("SELECT total_cents FROM listings_current").fetchone()[0] == 14_000


def test_listing_that_moved_to_another_event_is_a_change_not_a_new_listing(
    db: psycopg.Connection, event_id: int
) -> None:
    other = upsert_events(db, [EventRecord(
        marketplace="seatgeek", source_event_id="SG2", name="Trail Blazers vs. Suns",
        starts_at=T0 + timedelta(days=9), venue_name="Moda Center")])[("seatgeek", "SG2")]
    write_snapshots(db, listing_batch([{"observed_at": T0, "listing_id": "m"}]))
    moved = write_snapshots(db, listing_batch([
        {"observed_at": T0 + timedelta(hours=1), "listing_id": "m", "source_event_id": "SG2",
         "price_cents": 7_000}]))
    db.commit()
    assert moved.new_listings.num_rows == 0
    assert [(c["event_id"], c["old_total_cents"]) for c in moved.price_changes.to_pylist()] \
        == [(other, 12_000)]
    assert db.execute("SELECT event_id FROM listings_current").fetchone()[0] == other
    assert _count(db, "listing_snapshots") == 2


def test_quarantine_keeps_the_observation_as_json(db: psycopg.Connection, event_id: int) -> None:
    write_snapshots(db, listing_batch([
        {"observed_at": T0, "listing_id": "neg", "price_cents": -5, "section": "112"}]))
    db.commit()
    raw = db.execute("SELECT raw::json FROM quarantine").fetchone()[0]
    assert (raw["listing_id"], raw["price_cents"], raw["section"]) == ("neg", -5, "112")


def test_two_writers_alternating_on_one_event_report_each_change_once(
    db: psycopg.Connection, db_url: str, event_id: int
) -> None:
    """Each writer must classify against the other's committed writes, never its own past."""
    with psycopg.connect(db_url) as other:
        prices = [10_000, 11_000, 11_000, 9_500, 9_500, 12_000]
        reported = []
        for i, price in enumerate(prices):
            conn = db if i % 2 == 0 else other
            result = write_snapshots(conn, listing_batch([{
                "observed_at": T0 + timedelta(minutes=5 * i), "listing_id": "A",
                "price_cents": price, "total_cents": price + 1_000}]))
            conn.commit()
            reported.append((result.new_listings.num_rows,
                             result.price_changes.column("old_total_cents").to_pylist()))
    assert reported == [(1, []), (0, [11_000]), (0, []), (0, [12_000]), (0, []),
                        (0, [10_500])]


def test_cached_state_matches_the_database_after_changes_touches_and_gone(
    db: psycopg.Connection, db_url: str, event_id: int
) -> None:
    """The writer's cache must hold exactly what a fresh read of the database returns."""
    import pyarrow as pa

    from storage.ingest.classify import STATE_SCHEMA
    from storage.ingest.state import cache_for, read_event_state

    def snapshot(at: int, prices: dict[str, int]) -> pa.Table:
        return listing_batch([{"observed_at": T0 + timedelta(minutes=at), "listing_id": k,
                               "price_cents": p, "total_cents": p + 500}
                              for k, p in prices.items()])

    write_snapshots(db, snapshot(0, {"A": 100, "B": 200, "C": 300}), touch_interval_s=0)
    write_snapshots(db, snapshot(5, {"A": 150, "B": 200}), complete=True, touch_interval_s=0)
    with psycopg.connect(db_url) as other:  # another writer: our cache must not be trusted
        mark_gone(other, "seatgeek", "SG1", ["A", "C"], T0 + timedelta(minutes=7))
        other.commit()
    again = write_snapshots(db, snapshot(10, {"A": 150, "B": 200, "C": 310}), touch_interval_s=0)
    assert again.price_changes.column("listing_id").to_pylist() == ["C"]
    write_snapshots(db, snapshot(10, {"A": 150, "B": 200, "C": 310}), touch_interval_s=0)

    def rows(t: pa.Table) -> list[dict]:
        return sorted(t.to_pylist(), key=lambda r: r["listing_id"])

    with db.cursor() as cur:
        fresh = read_event_state(cur, [event_id], ["seatgeek"]).select(STATE_SCHEMA.names)
    cached = cache_for(db).take([event_id], pa.array(["seatgeek"]))
    assert rows(cached) == rows(fresh)
    assert {r["listing_id"]: r["gone"] for r in rows(fresh)} == {
        "A": False, "B": False, "C": False}


def test_batch_of_only_unknown_events_is_quarantined(db: psycopg.Connection) -> None:
    batch = listing_batch([{"observed_at": T0, "listing_id": "x", "source_event_id": "nope"}])
    for _ in range(2):
        result = write_snapshots(db, batch)
        assert (result.quarantined, result.inserted, result.new_listings.num_rows) == (1, 0, 0)
    db.commit()


def test_the_state_cache_keeps_each_events_latest_rows_and_lets_old_ones_go() -> None:
    """A writer's cache answers with the rows of the last commit that wrote an event, and
    lets a commit's rows go once every event of it was written again."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from storage.ingest.classify import STATE_SCHEMA
    from storage.ingest.state import StateCache

    at = datetime(2026, 10, 1, tzinfo=UTC)

    def state(rows: list[tuple[str, str, int, int]]) -> pa.Table:
        return pa.Table.from_pylist([
            {"marketplace": m, "listing_id": lid, "event_id": e, "total_cents": cents,
             "price_cents": cents, "quantity": 2, "prev_total_cents": None, "first_seen": at,
             "last_seen": at, "last_changed": at, "gone": False}
            for m, lid, e, cents in rows], schema=STATE_SCHEMA)

    def held(cache: StateCache, events: list[int], markets: list[str] | None = None
             ) -> list[tuple[str, int]]:
        table = cache.take(events, pa.array(markets or ["seatgeek", "stubhub"]))
        return sorted(zip(table["listing_id"].to_pylist(), table["total_cents"].to_pylist(),
                          strict=True))

    cache = StateCache()
    sg = frozenset({"seatgeek"})
    cache.put({1: 5, 2: 7}, sg, state([("seatgeek", "a", 1, 100), ("seatgeek", "b", 2, 200)]))
    assert cache.valid(1, 6, sg) and cache.valid(2, 8, sg)
    assert not cache.valid(1, 7, sg)  # another writer bumped it since
    assert not cache.valid(1, 6, frozenset({"seatgeek", "stubhub"}))  # not all held
    cache.put({2: 8}, sg, state([("seatgeek", "b", 2, 150), ("seatgeek", "c", 2, 300)]))
    assert held(cache, [1, 2]) == [("a", 100), ("b", 150), ("c", 300)]
    assert held(cache, [2], ["stubhub"]) == []
    cache.drop([1])  # every event of the first commit written again or dropped: it goes
    assert len(cache.puts) == 1 and cache.rows == 2
    assert held(cache, [1]) == [] and not cache.valid(1, 6, sg)
    cache.put({3: 1}, sg, state([]))  # an event with no listings is held too
    assert cache.valid(3, 2, sg) and held(cache, [3]) == []
