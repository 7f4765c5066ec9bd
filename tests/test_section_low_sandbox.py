"""A section's new_low on the sandbox's own price moves: crawled from the sandbox at moving
simulated times, committed through the ingest writer and the change relay (the matcher).
The alerts are checked against an oracle computed from the section's recorded get-in
prices, and that record against the stored listings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.test_alerts_e2e import _busiest_seatgeek_event
from tests.test_low_and_protection_sandbox import _fired

pytestmark = pytest.mark.slow


def test_section_new_low_follows_the_sandbox(
        db_url: str, db: psycopg.Connection[Any], make_sandbox: Any, tmp_path: Path) -> None:
    from tests.test_dashboard_browser import Crawl

    sandbox = make_sandbox(seed=7, events=8, listings_per_event=60, faults="none")
    crawl = Crawl(sandbox, db_url, tmp_path)
    start = datetime.now(UTC)
    try:
        crawl.run(start)
        event_id, *_ = _busiest_seatgeek_event(db)
        (section,) = db.execute(
            """SELECT upper(btrim(section)) FROM listings_current WHERE event_id = %s
               AND gone_at IS NULL AND btrim(section) <> '' GROUP BY 1
               ORDER BY count(*) DESC, 1 LIMIT 1""", (event_id,)).fetchone()
        user = db.execute("INSERT INTO users (email) VALUES ('fan@example.com') "
                          "RETURNING id").fetchone()[0]
        low = db.execute("""INSERT INTO alert_rules (user_id, event_id, kind, sections)
                            VALUES (%s, %s, 'new_low', %s) RETURNING id""",
                         (user, event_id, [section])).fetchone()[0]
        db.commit()
        for hours in (1, 2, 3, 4, 5):  # the marketplaces' clock moves; we crawl again
            crawl.advance(8)
            crawl.run(start + timedelta(hours=hours))
    finally:
        crawl.close()

    history = [r[0] for r in db.execute(
        """SELECT get_in_cents FROM alert_section_get_in_history
           WHERE event_id = %s AND section = %s ORDER BY observed_at""",
        (event_id, section)).fetchall()]
    final = db.execute(
        """SELECT min(total_cents) FROM listings_current WHERE event_id = %s
           AND gone_at IS NULL AND upper(btrim(section)) = %s""",
        (event_id, section)).fetchone()[0]
    db.commit()
    assert len(history) >= 2 and history[-1] == final, (history, final)
    prices = [int(p) for p in history if p is not None]
    lows = [p for i, p in enumerate(prices) if i and p < min(prices[:i])]
    fired = _fired(db, low)
    assert lows, f"the sandbox gave section {section} no new low: pick another seed"
    assert fired == sorted(set(lows)), (history, fired)
    kinds = db.execute(
        """SELECT DISTINCT upper(btrim(m->>'section')) FROM alert_outbox o
           CROSS JOIN LATERAL jsonb_array_elements(o.payload->'matches') m
           WHERE (m->>'rule_id')::bigint = %s""", (low,)).fetchall()
    assert kinds in ([], [(section,)])                 # never a listing of another section
