"""Price protection: a recorded purchase fires when the same or better seats are listed below
the price paid inside the claim window, and not otherwise; the evidence is kept and served
as a downloadable record and a printable page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa

from storage.records import LISTING_SCHEMA
from tests.fakes.alerts_world import T0, AlertWorld
from tests.fixtures_api import new_user


def _purchase(world: AlertWorld, user_id: int, *, row: str = "5", quantity: int = 2,
              paid: int = 11_000, window_minutes: int = 10, marketplace: str = "seatgeek",
              ) -> int:
    """Bought at T0 (before the first tick) for ``paid`` all-in per ticket."""
    rule = world.rule(user_id, "price_protection", threshold_cents=paid, section="112",
                      min_quantity=quantity)
    pid = world.conn.execute(
        """INSERT INTO purchases (user_id, event_id, rule_id, marketplace, section, "row",
               quantity, price_paid_cents, purchased_at, claim_ends_at)
           VALUES (%s, %s, %s, %s, '112', %s, %s, %s, %s, %s) RETURNING id""",
        (user_id, world.event_id, rule, marketplace, row, quantity, paid, T0,
         T0 + timedelta(minutes=window_minutes))).fetchone()[0]
    world.conn.commit()
    return int(pid)


def _evidence(world: AlertWorld, pid: int) -> list[tuple[Any, ...]]:
    rows = world.conn.execute(
        "SELECT listing_id, total_cents FROM purchase_evidence WHERE purchase_id = %s "
        "ORDER BY listing_id", (pid,)).fetchall()
    world.conn.commit()
    return rows


def test_fires_for_same_or_better_seats_below_the_price_paid(world: AlertWorld) -> None:
    u = world.user()
    pid = _purchase(world, u)  # Sec 112 Row 5, 2 tickets, $110 all-in each
    world.ingest([
        {"listing_id": "same", "price_cents": 8_000},                  # row 5, $100: yes
        {"listing_id": "better-row", "row": "3", "price_cents": 8_500},  # row 3: yes
        {"listing_id": "worse-row", "row": "9", "price_cents": 5_000},   # row 9: no
        {"listing_id": "other-sec", "section": "113", "price_cents": 5_000},
        {"listing_id": "too-few", "quantity": 1, "price_cents": 5_000},
        {"listing_id": "dearer", "price_cents": 9_500},                 # $115: no
        {"listing_id": "elsewhere", "marketplace": "ticketmaster", "source_event_id": "X",
         "price_cents": 5_000},                                         # not where bought
    ])
    got = sorted((m["listing_id"], m["total_cents"], m["reference_cents"])
                 for m in (x for o in world.outbox(u) for x in o["payload"]["matches"]))
    assert got == [("better-row", 10_500, 11_000), ("same", 10_000, 11_000)]
    assert _evidence(world, pid) == [("better-row", 10_500), ("same", 10_000)]
    world.ingest([{"listing_id": "same", "price_cents": 8_000}])  # unchanged: nothing new
    assert len(world.outbox(u)) == 1
    world.ingest([{"listing_id": "same", "price_cents": 7_000}])  # cheaper still: again
    assert _evidence(world, pid)[-1] == ("same", 9_000)


def test_nothing_after_the_claim_window_closes(world: AlertWorld) -> None:
    u = world.user()
    pid = _purchase(world, u, window_minutes=2)
    world.ingest([{"listing_id": "A", "price_cents": 9_500}])  # tick 1: $115
    world.ingest([{"listing_id": "B", "price_cents": 9_000}])  # tick 2: $110, not below
    world.ingest([{"listing_id": "C", "price_cents": 5_000}])  # tick 3: window closed
    assert world.outbox(u) == [] and _evidence(world, pid) == []


def test_purchase_api_claim_record_and_printable_page(http: Any, api_world: Any) -> None:
    from engine.alerts import match
    from storage.ingest import write_snapshots
    from tests.fixtures_api import listing_batch

    user = new_user(http)
    h = user["headers"]
    eid = api_world.event_ids[1]
    windows = {w["marketplace"]: w for w in http.get("/api/v1/claim-windows").json()}
    assert windows["gametime"]["window_seconds"] == 7200
    assert windows["seatgeek"]["window_seconds"] is None and windows["seatgeek"]["policy"]
    base = {"event_id": eid, "marketplace": "seatgeek", "section": "101", "quantity": 1,
            "price_paid_cents": 999_999, "purchased_at": "2020-01-01T00:00:00Z"}
    refused = http.post("/api/v1/purchases", headers=h, json=base)
    assert refused.status_code == 422 and "claim_window_hours" in refused.json()["detail"]
    bought = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    made = http.post("/api/v1/purchases", headers=h,
                     json={**base, "purchased_at": bought, "claim_window_hours": 72})
    assert made.status_code == 201, made.text
    p = made.json()
    assert p["watching"] and p["evidence_count"] == 0 and p["section"] == "101"
    # a cheaper listing in that section (any row: none was given), observed now
    rows = listing_batch(f"seatgeek-{eid}", "seatgeek", 1).to_pylist()  # section 101
    rows[0].update(listing_id="cheap-1", price_cents=5_000, fees_cents=0, total_cents=5_000)
    with psycopg.connect(api_world.db_url) as conn:
        result = write_snapshots(conn, pa.RecordBatch.from_pylist(rows, schema=LISTING_SCHEMA),
                                 touch_interval_s=0)
        conn.commit()
        match(conn, result)
        conn.commit()
    record = http.get(f"/api/v1/purchases/{p['id']}/evidence.json", headers=h)
    assert record.status_code == 200
    assert "attachment" in record.headers["content-disposition"]
    body = record.json()
    [item] = body["evidence"]
    assert (item["listing_id"], item["total_cents"]) == ("cheap-1", 5_000)
    assert body["difference_cents"] == 999_999 - 5_000
    assert item["history_url"].endswith("/listings/seatgeek/cheap-1/history")
    assert http.get(item["history_url"], headers=h).status_code == 200
    http.cookies.update(user["cookies"])  # the dashboard's session
    page = http.get(f"/purchases/{p['id']}/claim")
    listing = http.get("/purchases")
    http.cookies.clear()
    assert listing.status_code == 200 and "1 cheaper listing" in listing.text
    assert page.status_code == 200 and "cheap-1" in page.text and "$50" in page.text
    other = new_user(http)["headers"]
    assert http.get(f"/api/v1/purchases/{p['id']}/evidence.json",
                    headers=other).status_code == 404
