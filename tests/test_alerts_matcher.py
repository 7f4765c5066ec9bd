"""Each rule kind fires when it should and not otherwise; dedupe; targeting; the hook."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.fakes.alerts_world import AlertWorld, make_world


def test_price_at_or_below_fires_on_a_drop_under_the_target_once(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "price_at_or_below", threshold_cents=10_000, min_quantity=2)
    world.ingest([{"listing_id": "A", "price_cents": 9_000, "fees_cents": 2_000}])  # 110
    assert world.outbox() == []
    world.ingest([{"listing_id": "A", "price_cents": 7_000, "fees_cents": 2_000}])  # 90
    assert world.kinds(u) == ["price_at_or_below"]
    m = world.outbox(u)[0]["payload"]["matches"][0]
    assert (m["old_total_cents"], m["total_cents"], m["listing_id"]) == (11_000, 9_000, "A")
    # A rise that stays under the target says nothing new.
    world.ingest([{"listing_id": "A", "price_cents": 7_500, "fees_cents": 2_000}])
    assert len(world.outbox(u)) == 1
    # Back to the same price: same (rule, listing, price) key, no second alert ...
    world.ingest([{"listing_id": "A", "price_cents": 7_000, "fees_cents": 2_000}])
    assert len(world.outbox(u)) == 1
    # ... a further drop does alert.
    world.ingest([{"listing_id": "A", "price_cents": 6_000, "fees_cents": 2_000}])
    assert len(world.outbox(u)) == 2


def test_price_rule_honours_quantity_sections_and_marketplace(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "price_at_or_below", threshold_cents=20_000, min_quantity=4,
               sections=["112", "Floor"])
    world.ingest([
        {"listing_id": "two", "quantity": 2, "section": "112"},
        {"listing_id": "wrong-section", "quantity": 4, "section": "300"},
        {"listing_id": "ok", "quantity": 4, "section": "112"},
        {"listing_id": "floor", "quantity": 6, "section": "FLOOR"},
    ])
    got = sorted(m["listing_id"] for o in world.outbox(u) for m in o["payload"]["matches"])
    assert got == ["floor", "ok"]


def test_replayed_batch_never_alerts_twice(world: AlertWorld) -> None:
    from engine.alerts import match
    from storage.ingest import write_snapshots
    from tests.fakes.alerts_world import T0
    from tests.fixtures_db import listing_batch

    u = world.user()
    world.rule(u, "price_at_or_below", threshold_cents=50_000)
    batch = listing_batch([{"observed_at": T0, "listing_id": "R"}])
    for _ in range(3):  # a retried ingest reports the same changes again
        result = write_snapshots(world.conn, batch, touch_interval_s=0)
        world.conn.commit()
        match(world.conn, result)
        world.conn.commit()
    assert len(world.outbox(u)) == 1


def test_new_listing_in_section(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "new_listing_in_section", sections=["112"])
    world.ingest([{"listing_id": "A", "section": "300"}])
    assert world.outbox(u) == []
    world.ingest([{"listing_id": "B", "section": "112"}])
    world.ingest([{"listing_id": "B", "section": "112", "price_cents": 5_000}])  # not new
    assert world.kinds(u) == ["new_listing_in_section"]


def test_deal_score_at_least_uses_scores(world: AlertWorld) -> None:
    import pyarrow as pa

    from engine.alerts import match
    from tests.fakes.alerts_world import T0

    u = world.user()
    world.rule(u, "deal_score_at_least", min_deal_score=80)
    world.ingest([{"listing_id": "A"}, {"listing_id": "B"}])
    assert world.outbox(u) == []
    scored = pa.table({"marketplace": ["seatgeek", "seatgeek"], "listing_id": ["A", "B"],
                       "source_event_id": ["SG1", "SG1"], "section": ["112", "112"],
                       "quantity": pa.array([2, 2], pa.int32()),
                       "total_cents": [12_000, 12_000], "observed_at": [T0, T0],
                       "deal_score": [91.0, 40.0]})
    match(world.conn, scored)
    world.conn.commit()
    got = [m["listing_id"] for o in world.outbox(u) for m in o["payload"]["matches"]]
    assert got == ["A"]
    # Scores already in listings_current are used for ingest changes too.
    world.conn.execute("UPDATE listings_current SET deal_score = 85 WHERE listing_id = 'B'")
    world.conn.commit()
    world.ingest([{"listing_id": "B", "price_cents": 9_000}])
    assert len(world.outbox(u)) == 2


def test_get_in_drop_by_percent_and_by_cents(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "drop_percent", drop_percent=15)
    world.rule(u, "drop_percent", drop_percent=25)
    world.rule(u, "drop_percent", drop_cents=1_500)
    world.ingest([{"listing_id": "A", "price_cents": 8_000}, {"listing_id": "B"}])  # 100 get-in
    assert world.outbox(u) == []
    world.ingest([{"listing_id": "A", "price_cents": 6_000}])  # get-in 100 -> 80: -20 %
    matches = [m for o in world.outbox(u) for m in o["payload"]["matches"]]
    assert sorted(m["rule_id"] for m in matches) == [1, 3]
    assert all(m["reference_cents"] == 10_000 and m["total_cents"] == 8_000 for m in matches)
    world.ingest([{"listing_id": "B", "price_cents": 9_000}])  # B moves; get-in unchanged
    assert len([m for o in world.outbox(u) for m in o["payload"]["matches"]]) == 2


def test_back_in_stock_after_sold_out(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "back_in_stock")
    world.ingest([{"listing_id": "A"}])
    assert world.gone_all()["hits"] == 0  # sold out
    world.ingest([{"listing_id": "A2"}])
    assert world.kinds(u) == ["back_in_stock"]
    world.ingest([{"listing_id": "A3"}])  # still in stock: nothing new
    assert len(world.outbox(u)) == 1


def test_rules_targeting_performer_venue_watchlist_and_any_watched(world: AlertWorld) -> None:
    users = [world.user(f"u{i}@example.com") for i in range(5)]
    world.rule(users[0], "price_at_or_below", event_id=None, performer="portland trail blazers",
               threshold_cents=50_000)
    world.rule(users[1], "price_at_or_below", event_id=None, venue_id=world.venue_id,
               threshold_cents=50_000)
    wl = world.conn.execute("INSERT INTO watchlists (user_id, kind, performer) VALUES "
                            "(%s, 'performer', 'Los Angeles Lakers') RETURNING id",
                            (users[2],)).fetchone()[0]
    world.rule(users[2], "price_at_or_below", event_id=None, watchlist_id=wl,
               threshold_cents=50_000)
    world.conn.execute("INSERT INTO watchlists (user_id, kind, venue_id) VALUES "
                       "(%s, 'venue', %s)", (users[3], world.venue_id))
    world.rule(users[3], "price_at_or_below", event_id=None, threshold_cents=50_000)
    world.rule(users[4], "price_at_or_below", event_id=None, performer="Someone Else",
               threshold_cents=50_000)
    world.ingest([{"listing_id": "A"}])
    fired = {o["user_id"] for o in world.outbox()}
    assert fired == set(users[:4])


def test_ingest_writer_changes_reach_the_matcher_through_the_relay(
        db_url: str, db: psycopg.Connection[Any]) -> None:
    """The real ingest path: ``IngestWriter.write`` commits and returns what changed; the
    ``ChangeRelay`` (which loads ``engine.alerts:create_matcher``) matches it."""
    from engine.alerts.relay import ChangeRelay
    from engine.ingest_writer import IngestWriter
    from tests.fakes.alerts_world import T0
    from tests.fixtures_db import listing_batch

    world = make_world(db)
    u = world.user()
    world.rule(u, "price_at_or_below", threshold_cents=50_000)
    writer, relay = IngestWriter(db_url), ChangeRelay(db_url)
    try:
        assert "AlertMatcher" in relay.hooks()
        summary, changes = writer.write(listing_batch([{"observed_at": T0,
                                                        "listing_id": "W"}]))
        assert summary.changed
        assert relay.on_changes(changes) == 0  # no hook failed
    finally:
        writer.close()
    assert world.kinds(u) == ["price_at_or_below"]
