"""new_low, near_low and keeps_dropping fire on the get-in price's moves and not otherwise
(the real write path and matcher on a real database; prices are all-in: price + $20 fees)."""

from __future__ import annotations

from typing import Any

from tests.fakes.alerts_world import AlertWorld


def _getin(world: AlertWorld, price_cents: int) -> dict[str, int]:
    """Move the one listing "A" (the event's get-in) to ``price_cents`` + $20 fees."""
    return world.ingest([{"listing_id": "A", "price_cents": price_cents}])


def _matches(world: AlertWorld, u: int) -> list[tuple[str, int, int | None]]:
    return [(m["kind"], m["total_cents"], m["reference_cents"])
            for o in world.outbox(u) for m in o["payload"]["matches"]]


def test_new_low_fires_only_below_every_earlier_get_in(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "new_low")
    _getin(world, 10_000)                      # first price ever: not a "new low"
    _getin(world, 12_000)                      # up
    _getin(world, 11_000)                      # down, but above the low of 120
    assert _matches(world, u) == []
    _getin(world, 9_000)                       # all-in 110 < the low of 120
    assert _matches(world, u) == [("new_low", 11_000, 11_000)]
    _getin(world, 9_500)                       # up: nothing
    _getin(world, 9_200)                       # down to 112, above the low 110: nothing
    assert len(_matches(world, u)) == 1
    _getin(world, 8_000)                       # 100 < 110: a new low again
    assert _matches(world, u)[-1] == ("new_low", 10_000, 10_000)


def test_new_low_within_a_window_forgets_older_lows(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "new_low", low_window_seconds=300)  # ticks are one minute apart
    _getin(world, 5_000)                       # all-in 70: the all-time low, soon outside
    for price in (10_000, 10_000 + 1, 10_000 + 2, 10_000 + 3, 10_000 + 4, 10_000 + 5):
        _getin(world, price)                   # rising, 6 minutes
    assert _matches(world, u) == []
    _getin(world, 9_900)                       # 119 < every price of the last 5 minutes
    assert [k for k, *_ in _matches(world, u)] == ["new_low"]


def test_near_low_fires_within_the_percent_of_the_low(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "near_low", near_percent=5)
    _getin(world, 8_000)                       # low: 100 all-in
    _getin(world, 10_000)                      # 120
    _getin(world, 8_600)                       # 106 > 105: outside the band
    assert _matches(world, u) == []
    _getin(world, 8_400)                       # 104 <= 105: near the low
    assert _matches(world, u) == [("near_low", 10_400, 10_000)]
    _getin(world, 8_400)                       # unchanged: nothing
    _getin(world, 9_000)                       # rises out of the band: nothing
    assert len(_matches(world, u)) == 1


def test_keeps_dropping_needs_n_drops_in_a_row(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "keeps_dropping", drop_count=3)
    _getin(world, 10_000)
    _getin(world, 9_500)                       # drop 1
    _getin(world, 9_000)                       # drop 2
    assert _matches(world, u) == []
    _getin(world, 9_200)                       # a rise breaks the run
    _getin(world, 8_800)                       # drop 1
    _getin(world, 8_500)                       # drop 2
    assert _matches(world, u) == []
    _getin(world, 8_000)                       # drop 3 in a row
    assert _matches(world, u) == [("keeps_dropping", 10_000, 10_000)]
    _getin(world, 7_000)                       # drop 4: still dropping, a new price
    assert [t for _, t, _ in _matches(world, u)] == [10_000, 9_000]


def test_replayed_batch_and_other_events_do_not_fire(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "new_low")
    world.rule(u, "keeps_dropping", drop_count=1)
    _getin(world, 10_000)
    _getin(world, 9_000)
    before = _matches(world, u)
    assert sorted(k for k, *_ in before) == ["keeps_dropping", "new_low"]
    world.tick -= 1                            # the same batch at the same time again
    _getin(world, 9_000)
    assert _matches(world, u) == before


def test_the_new_kinds_over_rest(http: Any, api_world: Any) -> None:
    from tests.fixtures_api import new_user

    h, eid = new_user(http)["headers"], api_world.event_ids[0]
    made = http.post("/api/v1/alert-rules", headers=h, json={
        "kind": "near_low", "event_id": eid, "near_percent": 3, "low_window_seconds": 86_400 * 30,
        "channels": ["email", "webhook"]})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["near_percent"], body["low_window_seconds"], body["channels"]) == \
        (3.0, 2_592_000, ["email", "webhook"])
    run = http.post("/api/v1/alert-rules", headers=h,
                    json={"kind": "keeps_dropping", "event_id": eid, "drop_count": 3})
    assert run.status_code == 201 and run.json()["drop_count"] == 3
    low = http.post("/api/v1/alert-rules", headers=h, json={"kind": "new_low", "event_id": eid})
    assert low.status_code == 201 and low.json()["low_window_seconds"] is None
    bad = http.post("/api/v1/alert-rules", headers=h, json={
        "kind": "new_low", "event_id": eid, "marketplace": "seatgeek"})
    assert bad.status_code == 422 and "get-in price" in bad.json()["detail"]
    assert http.post("/api/v1/alert-rules", headers=h, json={
        "kind": "keeps_dropping", "event_id": eid, "drop_count": 0}).status_code == 422
