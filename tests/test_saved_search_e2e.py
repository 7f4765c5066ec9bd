"""End to end on the sandbox: crawled batches go through the engine's ingest writer, change
relay (the alert matcher) and deal scorer; saved searches alert once per new matching event
and once per qualifying listing price, never for what already existed, as the sandbox clock
moves prices and the crawl window reaches events the platform had not seen."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

pytestmark = pytest.mark.slow


def _matches(db: psycopg.Connection[Any], saved_id: int) -> list[tuple[str, int, int | None]]:
    rows = db.execute(
        """SELECT m.dedupe_key, m.event_id, (o.payload -> 'matches' -> 0 ->> 'total_cents')::int
           FROM alert_matches m
           LEFT JOIN alert_outbox o ON o.saved_search_id = m.saved_search_id
                AND (o.payload -> 'matches' -> 0 ->> 'match_id')::bigint = m.id
           WHERE m.saved_search_id = %s ORDER BY m.id""", (saved_id,)).fetchall()
    db.commit()
    return [(r[0], int(r[1]), r[2]) for r in rows]


def test_saved_searches_alert_on_new_events_and_prices(db_url: str, db: psycopg.Connection[Any],
                                                        make_sandbox: Any,
                                                        tmp_path: Path) -> None:
    from tests.test_dashboard_browser import Crawl

    sandbox = make_sandbox(seed=11, events=10, listings_per_event=60, faults="none")
    truth = sandbox.truth()["events"]
    starts = sorted(e["starts_at"][:10] for e in truth)
    cutoff = starts[len(starts) // 2 - 1]  # the first half of the season is crawled first
    crawl = Crawl(sandbox, db_url, tmp_path)
    crawl.spider_args = ["-a", "city=Portland", "-a", f"end={cutoff}"]
    try:
        crawl.run(datetime.now(UTC))
        known = {r[0] for r in db.execute("SELECT id FROM events").fetchall()}
        assert known, "the first crawl stored no events"
        # the busiest SeatGeek event already stored, and its get-in price there
        eid, name, get_in = db.execute(
            """SELECT e.id, e.name, min(lc.total_cents) FROM listings_current lc
               JOIN events e ON e.id = lc.event_id
               WHERE lc.marketplace = 'seatgeek' AND lc.gone_at IS NULL
               GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1""").fetchone()
        user = db.execute("INSERT INTO users (email) VALUES ('fan@example.com') RETURNING id"
                          ).fetchone()[0]
        season = datetime(2026, 9, 1, tzinfo=UTC)  # the sandbox season, not today's date
        new_events = db.execute(
            """INSERT INTO saved_searches (user_id, name, city, starts_after, alert_new_events)
               VALUES (%s, 'anything new in Portland', 'Portland', %s, true) RETURNING id""",
            (user, season)).fetchone()[0]
        threshold = get_in - 1  # nothing listed now qualifies: only a drop or a new listing
        cheap = db.execute(
            """INSERT INTO saved_searches (user_id, name, q, starts_after, marketplace,
                   max_price_cents, alert_listings)
               VALUES (%s, 'cheap seats', %s, %s, 'seatgeek', %s, true) RETURNING id""",
            (user, name, season, threshold)).fetchone()[0]
        db.commit()

        crawl.run(datetime.now(UTC))  # same window, same clock: nothing is new
        assert _matches(db, new_events) == [] and _matches(db, cheap) == []

        for _ in range(40):  # the marketplaces' clock moves until a listing is under target
            crawl.advance(6)
            world_id = next(e["world_event_id"] for e in truth if e["name"] == name)
            under = [x["marketplaces"]["seatgeek"]["all_in_cents"]
                     for x in sandbox.truth(world_id)["listings"]
                     if (x["marketplaces"].get("seatgeek") or {}).get("all_in_cents", 1e12)
                     <= threshold and "malformed" not in x["marketplaces"]["seatgeek"]]
            if under:
                break
        assert under, f"no SeatGeek listing of {name} fell under ${threshold / 100:.2f}"

        crawl.spider_args = ["-a", "city=Portland"]  # the window now reaches every event
        crawl.run(datetime.now(UTC))
        stored = {r[0] for r in db.execute("SELECT id FROM events").fetchall()}
        db.commit()
        appeared = stored - known
        assert appeared, "the wider crawl found no event the first one had not"
        got_events = _matches(db, new_events)
        # once per new event that has tickets on sale, never for one known before
        with_listings = {r[0] for r in db.execute(
            """SELECT DISTINCT event_id FROM listings_current WHERE gone_at IS NULL
               AND event_id = ANY(%s)""", (list(appeared),)).fetchall()}
        db.commit()
        assert sorted(m[1] for m in got_events) == sorted(with_listings)
        assert all(m[0] == f"s{new_events}:event:{m[1]}" for m in got_events)

        got_prices = _matches(db, cheap)
        assert got_prices, "the drop under the saved search's ceiling did not alert"
        assert {m[1] for m in got_prices} == {eid}
        prices = [int(m[0].rsplit(":", 1)[1]) for m in got_prices]
        assert all(p <= threshold for p in prices)
        assert min(under) in prices, (under, prices)
        assert len(set(m[0] for m in got_prices)) == len(got_prices)

        outbox = db.execute(
            """SELECT payload FROM alert_outbox WHERE user_id = %s""", (user,)).fetchall()
        db.commit()
        kinds = {m["kind"] for (p,) in outbox for m in p["matches"]}
        assert kinds == {"saved_search_event", "saved_search_listing"}

        crawl.run(datetime.now(UTC))  # the same world again: nothing alerts twice
        assert len(_matches(db, new_events)) == len(got_events)
        assert len(_matches(db, cheap)) == len(got_prices)
    finally:
        crawl.close()
