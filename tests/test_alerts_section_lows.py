"""new_low, near_low and keeps_dropping on a section's get-in price: a rule with sections
follows the cheapest live listing in them, not the event's (the real write path and matcher
on a real database; prices are all-in: price + $20 fees)."""

from __future__ import annotations

from typing import Any

from engine.alerts.messages import lines
from tests.fakes.alerts_world import AlertWorld


def _at(world: AlertWorld, **prices: int) -> dict[str, int]:
    """Move listings (A, C in section 112; B in section 220) to ``price`` + $20 fees."""
    sec = {"A": "112", "B": "220", "C": "112"}
    return world.ingest([{"listing_id": k, "section": sec[k], "price_cents": v}
                         for k, v in prices.items()])


def _matches(world: AlertWorld, u: int) -> list[tuple[str, str, int, int | None]]:
    return [(m["kind"], m["section"], m["total_cents"], m["reference_cents"])
            for o in world.outbox(u) for m in o["payload"]["matches"]]


def test_section_new_low_fires_on_its_section_only(world: AlertWorld) -> None:
    fan, other = world.user(), world.user("event@example.com")
    world.rule(fan, "new_low", sections=["112"])
    world.rule(other, "new_low")                       # the event's get-in, for contrast
    _at(world, A=10_000, B=15_000)                     # first prices: no "new low"
    _at(world, B=5_000)                                # 220 drops to 70: the event's low
    assert _matches(world, fan) == []
    assert _matches(world, other) == [("new_low", "220", 7_000, 7_000)]
    _at(world, A=12_000)                               # 112 up to 140
    _at(world, A=11_000)                               # down, above 112's low of 120
    assert _matches(world, fan) == []
    _at(world, A=9_000)                                # 110 < 120: 112's new low
    assert _matches(world, fan) == [("new_low", "112", 11_000, 11_000)]
    assert len(_matches(world, other)) == 1            # 110 is no low of the event (70)
    (line,) = lines([o["payload"] for o in world.outbox(fan)], "http://127.0.0.1:8000")
    assert (line.title, line.price) == ("New low in Section 112", "$110")


def test_several_sections_share_one_get_in_price(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "new_low", sections=[" 112 ", "220"])  # names compare trimmed, any case
    _at(world, A=10_000, B=15_000)                     # the rule's get-in: 120 (112)
    _at(world, B=11_000)                               # 220 at 130: above 120
    assert _matches(world, u) == []
    _at(world, B=9_500)                                # 220 at 115 < 120: the rule's low
    assert _matches(world, u) == [("new_low", "220", 11_500, 11_500)]


def test_section_near_low_within_the_band(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "near_low", sections=["112"], near_percent=5)
    _at(world, A=8_000, B=1_000)                       # 112's low: 100 (the event's: 30)
    _at(world, A=10_000)                               # 120
    _at(world, A=8_600)                                # 106 > 105: outside the band
    assert _matches(world, u) == []
    _at(world, A=8_400)                                # 104 <= 105: near 112's low
    assert _matches(world, u) == [("near_low", "112", 10_400, 10_000)]
    _at(world, A=9_000)                                # rises out of the band: nothing
    assert len(_matches(world, u)) == 1


def test_the_cheapest_going_away_moves_the_section_price(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "near_low", sections=["112"], near_percent=5)
    _at(world, A=8_000, C=10_000, B=20_000)            # 112: 100 (A), C at 120
    world.ingest([{"listing_id": k, "section": s, "price_cents": p}   # A sold: 112 at 120
                  for k, s, p in (("C", "112", 10_000), ("B", "220", 20_000))], complete=True)
    assert _matches(world, u) == []
    _at(world, C=8_400)                                # 120 -> 104: a drop near the low 100
    assert _matches(world, u) == [("near_low", "112", 10_400, 10_000)]


def test_section_keeps_dropping_and_replays_fire_once(world: AlertWorld) -> None:
    u = world.user()
    world.rule(u, "keeps_dropping", sections=["112"], drop_count=2)
    world.rule(u, "new_low", sections=["112"])
    _at(world, A=10_000, B=20_000)
    _at(world, A=9_500)                                # drop 1 (and 112's new low)
    _at(world, B=1_000)                                # elsewhere: 112 unchanged
    before = _matches(world, u)
    assert before == [("new_low", "112", 11_500, 11_500)]
    _at(world, A=9_000)                                # drop 2 in a row, a new low again
    got = _matches(world, u)
    assert sorted(got[1:]) == [("keeps_dropping", "112", 11_000, 11_000),
                               ("new_low", "112", 11_000, 11_000)]
    world.tick -= 1                                    # the same batch at the same time
    _at(world, A=9_000)
    assert _matches(world, u) == got


def test_sections_over_rest(http: Any, api_world: Any) -> None:
    from tests.fixtures_api import new_user

    h, eid = new_user(http)["headers"], api_world.event_ids[0]
    made = http.post("/api/v1/alert-rules", headers=h, json={
        "kind": "new_low", "event_id": eid, "sections": ["112", "113"]})
    assert made.status_code == 201, made.text
    assert made.json()["sections"] == ["112", "113"]
    near = http.post("/api/v1/alert-rules", headers=h, json={
        "kind": "near_low", "event_id": eid, "sections": ["FLOOR"], "near_percent": 3})
    assert near.status_code == 201, near.text
    market = http.post("/api/v1/alert-rules", headers=h, json={
        "kind": "new_low", "event_id": eid, "sections": ["112"], "marketplace": "seatgeek"})
    assert market.status_code == 422 and "marketplace" in market.json()["detail"]
    two = http.post("/api/v1/alert-rules", headers=h, json={
        "kind": "keeps_dropping", "event_id": eid, "sections": ["112", "113"]})
    assert two.status_code == 422 and "one section" in two.json()["detail"]
    one = http.post("/api/v1/alert-rules", headers=h, json={
        "kind": "keeps_dropping", "event_id": eid, "sections": ["112"]})
    assert one.status_code == 201, one.text
    widened = http.patch(f"/api/v1/alert-rules/{one.json()['id']}", headers=h,
                         json={"sections": ["112", "113"]})
    assert widened.status_code == 422 and "one section" in widened.json()["detail"]
    assert http.patch(f"/api/v1/alert-rules/{made.json()['id']}", headers=h,
                      json={"sections": ["112", "114"]}).status_code == 200
    doc = http.get("/schema/openapi.json").json()
    assert "sections" in doc["components"]["schemas"]["AlertRuleIn"]["properties"]["kind"][
        "description"]


def test_sections_in_the_dashboard_rule_form(api_base_url: str, api_world: Any) -> None:
    from tests.fixtures_api import dashboard_user

    eid = api_world.event_ids[0]
    c, csrf, _ = dashboard_user(api_base_url, "/alerts")
    form = {"csrf": csrf, "event_id": str(eid), "back": "/alerts"}
    c.post("/alerts/rules", data={**form, "kind": "new_low", "sections": "112, floor"})
    c.post("/alerts/rules", data={**form, "kind": "keeps_dropping", "sections": "101, 102"})
    alerts = c.get("/alerts").text
    assert "Get-in price in section 112, FLOOR hits a new low since we started tracking" \
        in alerts
    assert "one section" in alerts                     # the refusal's note
    assert "section 101, 102" not in alerts
