"""Freshness in the API and on the dashboard: per marketplace the last complete crawl
(`fresh_as_of`), `stale` past RIPCITY_STALE_AFTER_SECONDS, and a marketplace that completed
no crawl lately shown as failing ("SeatGeek prices as of 40 min ago")."""

from __future__ import annotations

from typing import Any

import psycopg


def test_event_detail_and_page_say_how_fresh_each_marketplace_is(
        http: Any, api_world: Any) -> None:
    eid = api_world.event_ids[-1]
    with psycopg.connect(api_world.db_url) as conn:
        conn.execute("DELETE FROM source_event_crawls")
        conn.execute(
            """INSERT INTO source_event_crawls (marketplace, source_event_id, complete_at)
               VALUES ('seatgeek', %s, now() - interval '40 minutes'),
                      ('ticketmaster', %s, now() - interval '3 minutes')""",
            (f"seatgeek-{eid}", f"ticketmaster-{eid}"))
    body = http.get(f"/api/v1/events/{eid}").json()
    fresh = {f["marketplace"]: f for f in body["freshness"]}
    assert set(fresh) == {"seatgeek", "ticketmaster"}
    sg, tm = fresh["seatgeek"], fresh["ticketmaster"]
    assert sg["stale"] and sg["marketplace_failing"]  # default: stale after 30 minutes
    assert 40 * 60 <= sg["age_seconds"] < 42 * 60 and sg["fresh_as_of"] is not None
    assert not tm["stale"] and not tm["marketplace_failing"]
    page = http.get(f"/events/{eid}").text
    assert "SeatGeek prices as of 40 min ago" in page
    assert "Ticketmaster prices as of 3 min ago" in page
    assert "SeatGeek is not answering us" in page
    never = api_world.event_ids[0]  # no complete crawl recorded
    assert all(f["fresh_as_of"] is None and f["stale"]
               for f in http.get(f"/api/v1/events/{never}").json()["freshness"])
