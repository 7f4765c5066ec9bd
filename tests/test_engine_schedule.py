"""The crawl schedule without Ray: cadence, budgets, the frontier's leases and re-queues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.crawl.cadence import DailyBudget, recrawl_interval
from engine.crawl.frontier import Frontier
from engine.crawl.shards import EventSeen, ShardResult

NOW = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)


def test_events_tonight_are_crawled_far_more_often_than_next_month() -> None:
    tonight = recrawl_interval(NOW + timedelta(hours=3), NOW)
    next_month = recrawl_interval(NOW + timedelta(days=28), NOW)
    assert tonight <= timedelta(minutes=5)
    assert next_month >= timedelta(hours=2)


def test_volatile_events_come_back_sooner_and_past_events_never() -> None:
    calm = recrawl_interval(NOW + timedelta(days=5), NOW, volatility=0.0)
    jumpy = recrawl_interval(NOW + timedelta(days=5), NOW, volatility=0.2)
    assert jumpy < calm
    assert recrawl_interval(NOW - timedelta(days=1), NOW) >= timedelta(days=300)


def test_daily_budget_stops_spending_and_resets_next_day() -> None:
    budget = DailyBudget(limit=3)
    assert budget.try_spend(2, NOW)
    assert not budget.try_spend(2, NOW)
    assert budget.try_spend(3, NOW + timedelta(days=1))


def _frontier(**kw: object) -> Frontier:
    return Frontier({"seatgeek": "seatgeek", "stubhub_web": "stubhub"}, events_per_shard=2,
                    **kw)  # type: ignore[arg-type]


def _ack(f: Frontier, shard_id: str, spider: str, events: list[str]) -> None:
    f.ack(ShardResult(shard_id, spider, events=[
        EventSeen(spider, e, NOW + timedelta(days=20)) for e in events]), NOW)


def test_discovery_then_due_events_are_sharded_and_rescheduled() -> None:
    f = _frontier(discover_spiders={"seatgeek"})
    assert f.discover(NOW) == 1
    shard = f.lease("w0", NOW)
    assert shard is not None and shard.discover_only
    _ack(f, shard.shard_id, "seatgeek", ["e1", "e2", "e3"])
    assert f.plan(NOW) == 2  # three events, two per shard
    assert f.plan(NOW) == 0  # already queued: never planned twice
    leased = [f.lease("w0", NOW), f.lease("w1", NOW)]
    assert sorted(e for s in leased if s for e in s.event_ids) == ["e1", "e2", "e3"]
    for s in leased:
        assert s is not None
        _ack(f, s.shard_id, "seatgeek", list(s.event_ids))
    assert f.idle()
    assert f.plan(NOW + timedelta(minutes=1)) == 0  # not due again yet
    assert f.plan(NOW + timedelta(hours=4)) == 2


def test_a_dead_workers_shard_is_requeued_with_the_same_stamp_then_given_up() -> None:
    f = _frontier(max_attempts=2)
    f.add_events("seatgeek", [("e1", None)], NOW)
    f.plan(NOW)
    first = f.lease("w0", NOW)
    assert first is not None
    assert f.release_worker("w0", "killed", NOW) == 1
    assert f.lease("w1", NOW) is None  # backing off
    again = f.lease("w1", NOW + timedelta(seconds=f.backoff(1) + 60))
    assert again is not None and again.shard_id == first.shard_id
    assert again.observed_at == first.observed_at and again.attempt == 1
    assert not f.fail(again.shard_id, "boom", NOW)  # second failure: given up, counted
    assert f.status()["failed"] == 1 and f.status()["errors"] == 2
    assert f.idle()


def test_refreshes_jump_the_queue_and_express_slots_take_only_them() -> None:
    f = _frontier()
    f.add_events("seatgeek", [("e1", None), ("e2", None)], NOW)
    f.plan(NOW)
    assert f.lease("w0", NOW, express=True) is None
    f.refresh([("seatgeek", "e9"), ("nosuchspider", "x")], NOW)
    shard = f.lease("w0", NOW, express=True)
    assert shard is not None and shard.event_ids == ("e9",) and shard.priority == 0


def test_browser_shards_are_bounded_by_renderer_slots() -> None:
    f = _frontier(renderer_slots=1)
    f.add_events("stubhub_web", [("a", None), ("b", None), ("c", None), ("d", None)], NOW)
    f.plan(NOW)
    assert f.lease("w0", NOW) is not None
    assert f.lease("w1", NOW) is None  # the only renderer is busy


def _crawl_all(f: Frontier, now: datetime, sizes: dict[str, int]) -> list[tuple[str, ...]]:
    """Plan, lease and ack every due shard, each event crawled with ``sizes[event]``
    listings; the shards' events, in lease order."""
    f.plan(now)
    shards = []
    while (shard := f.lease("w0", now)) is not None:
        shards.append(shard.event_ids)
        f.ack(ShardResult(shard.shard_id, shard.spider, events=[
            EventSeen("seatgeek", e, NOW + timedelta(days=20), listings=sizes[e])
            for e in shard.event_ids]), now)
    return shards


def test_shards_are_filled_to_a_write_chunk_by_each_events_last_listing_count() -> None:
    # events of unknown size: events_per_shard of them; then by size, up to 1,000 listings
    # (the write chunk) or 6 events, whichever comes first; a big event alone
    f = Frontier({"seatgeek": "seatgeek"}, events_per_shard=3, shard_listings=1000,
                 max_events_per_shard=6)
    small = {f"s{i:02}": 100 for i in range(12)}
    sizes = {**small, "big": 1500, "mid1": 600, "mid2": 300}
    f.add_events("seatgeek", [(e, None) for e in sizes], NOW)
    first = _crawl_all(f, NOW, sizes)
    assert [len(s) for s in first] == [3, 3, 3, 3, 3]  # sizes unknown yet
    later = NOW + timedelta(days=1)
    again = _crawl_all(f, later, sizes)
    assert sorted(e for s in again for e in s) == sorted(sizes)  # every event, once
    assert len(again) < len(first)
    for shard in again:
        listings = sum(sizes[e] for e in shard)
        assert len(shard) <= 6
        assert listings <= 1000 or len(shard) == 1, shard  # only a big event overflows
    # the twelve small ones six a shard (the most), the big one alone, the two others together
    assert sorted(tuple(sorted(s)) for s in again) == sorted(
        [tuple(sorted(small)[:6]), tuple(sorted(small)[6:]), ("big",), ("mid1", "mid2")])


def test_a_browser_spiders_shards_keep_their_event_count_whatever_the_sizes() -> None:
    f = Frontier({"stubhub_web": "stubhub"}, events_per_shard=3, shard_listings=1000,
                 renderer_slots=3)
    f.add_events("stubhub_web", [(f"e{i}", None) for i in range(7)], NOW)
    for state in f.events.values():
        state.listings = 10  # known and small: each is still a page to render
    f.plan(NOW)
    shards = []
    while (shard := f.lease("w0", NOW)) is not None:
        shards.append(len(shard.event_ids))
    assert sorted(shards) == [1, 3, 3]


def test_discovery_counts_size_the_first_crawl_and_a_restart_keeps_the_sizes() -> None:
    def frontier() -> Frontier:
        return Frontier({"seatgeek": "seatgeek"}, events_per_shard=4, shard_listings=1000,
                        max_events_per_shard=8)

    f = frontier()
    assert f.discover(NOW) == 1
    shard = f.lease("w0", NOW)
    assert shard is not None
    # the discovery pages' stats counted three events' listings; one came without, one
    # with a count that cannot be (unknown, like no count)
    f.ack(ShardResult(shard.shard_id, "seatgeek", events=[
        *(EventSeen("seatgeek", e, None, listings=600) for e in "abc"),
        EventSeen("seatgeek", "d", None), EventSeen("seatgeek", "e", None, listings=-5)]), NOW)
    changes = f.take_changes()
    g = frontier()
    g.restore({k: (s.starts_at, s.due_at, s.last_low, s.crawls, s.listings)
               for k, s in changes.events.items()}, [], changes.counts)
    for fr in (f, g):
        assert fr.events[("seatgeek", "e")].listings is None
        del fr.events[("seatgeek", "e")]
        shards = _crawl_all(fr, NOW, dict.fromkeys("abcd", 600))
        # unsized, the four would be one shard (events_per_shard); sized, no two of a, b
        # and c fit in one (1,200 > 1,000), d (a share, 250) goes beside one of them
        assert len(shards) == 3 and sorted(e for s in shards for e in s) == list("abcd")


def test_over_budget_marketplaces_are_skipped() -> None:
    f = Frontier({"seatgeek": "seatgeek"}, {"seatgeek": 2}, events_per_shard=2)
    f.add_events("seatgeek", [(f"e{i}", None) for i in range(6)], NOW)
    assert f.plan(NOW) == 1
    assert f.status()["over_budget"] == 1


def test_a_failed_shard_backs_off_exponentially_with_jitter() -> None:
    f = _frontier(max_attempts=10)
    waits = [f.backoff(n) for n in range(1, 7)]
    assert waits[0] <= 2.0 < waits[5] <= 61.0  # initial 1 s (+ jitter), capped at 60 s
    assert waits[4] > waits[1]
    assert len({round(f.backoff(3), 6) for _ in range(5)}) > 1  # jittered
    f.add_events("seatgeek", [("e1", None)], NOW)
    f.plan(NOW)
    shard = f.lease("w0", NOW)
    assert shard is not None
    f.fail(shard.shard_id, "boom", NOW)
    assert f.lease("w0", NOW) is None and f.backing_off(NOW) == 1
    assert f.lease("w0", NOW + timedelta(minutes=2)) is not None


def test_a_shard_no_worker_could_take_spends_no_attempt() -> None:
    f = _frontier(max_attempts=2)
    f.add_events("seatgeek", [("e1", None)], NOW)
    f.plan(NOW)
    later = NOW
    for _ in range(5):  # the worker stays unavailable: the shard is never given up
        later += timedelta(minutes=2)
        shard = f.lease("w0", later)
        assert shard is not None and shard.attempt == 0
        assert f.fail(shard.shard_id, "unavailable", later, spent=False)
    assert f.status().get("failed", 0) == 0 and f.status()["unavailable"] == 5


def test_a_restored_frontier_has_the_schedule_queue_and_attempts_it_journaled() -> None:
    f = _frontier(max_attempts=5)
    f.add_events("seatgeek", [(f"e{i}", None) for i in range(4)], NOW)
    f.plan(NOW)
    leased = f.lease("w0", NOW)
    assert leased is not None
    f.fail(leased.shard_id, "boom", NOW)
    changes = f.take_changes()
    assert not f.take_changes()  # taken once
    g = _frontier(max_attempts=5)
    g.restore({k: (s.starts_at, s.due_at, s.last_low, s.crawls, s.listings)
               for k, s in changes.events.items()},
              [(shard, not_before) for shard, _, not_before in changes.shards.values()],
              changes.counts)
    assert set(g.events) == set(f.events) and g.backlog == f.backlog
    later = NOW + timedelta(minutes=2)
    again = {s.shard_id: s for s in (g.lease("w1", later), g.lease("w1", later)) if s}
    assert again[leased.shard_id].attempt == 1
    assert again[leased.shard_id].observed_at == leased.observed_at


def test_an_event_is_written_when_new_or_changed_and_only_touched_when_its_sighting_is_old(
) -> None:
    import dataclasses

    from engine.crawl.shard_events import WrittenEvents
    from storage.records import EventRecord

    memory = WrittenEvents(resolution_s=900)
    event = EventRecord("seatgeek", "SG1", "Trail Blazers vs. Lakers", NOW, venue_name="Moda",
                        observed_at=NOW)
    assert memory.changed(event)  # never written by this worker
    memory.wrote([event], now=0.0)
    seen_again = dataclasses.replace(event, observed_at=NOW + timedelta(minutes=3))
    assert not memory.changed(seen_again) and not memory.stale(seen_again, now=180.0)
    for changed in (dataclasses.replace(seen_again, status="postponed"),
                    dataclasses.replace(seen_again, starts_at=NOW + timedelta(days=1)),
                    dataclasses.replace(seen_again, name="Blazers vs. Lakers (rescheduled)")):
        assert memory.changed(changed), changed
    assert memory.stale(seen_again, now=900.0)  # its source's last sighting is due to move
    memory.wrote([seen_again], now=900.0)  # touched
    assert not memory.stale(seen_again, now=1000.0)
    every_time = WrittenEvents(resolution_s=0)  # RIPCITY_LAST_SEEN_RESOLUTION_S=0
    every_time.wrote([event], now=0.0)
    assert every_time.stale(seen_again, now=0.0) and not every_time.changed(seen_again)
