"""End to end: the sandbox drops a price -> the engine's ingest path commits it -> the alert
matcher (through the change relay) writes the outbox -> a running dispatcher sends -> the
email is accepted by a real SMTP server on 127.0.0.1.

The crawl is the dashboard test's in-process one (``tests.test_dashboard_browser.Crawl``:
spiders in subprocesses, ``IngestWriter`` + ``ChangeRelay`` + deal scorer here).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sandbox.vendors.smtp_inbox import SmtpBox

pytestmark = pytest.mark.slow

EMAIL = "drop@example.com"


@pytest.fixture
def dispatching(db_url: str, smtp: SmtpBox) -> Iterator[None]:
    """``ripcity alerts dispatch``'s loop in a thread: wakes on the matcher's NOTIFY."""
    from engine.alerts.dispatcher import Dispatcher, DispatchOptions, build_senders
    from engine.settings import load_settings

    settings = load_settings(RIPCITY_SMTP_HOST="127.0.0.1", RIPCITY_SMTP_PORT=smtp.port,
                             RIPCITY_PUBLIC_URL="http://ripcity.test")
    dispatcher = Dispatcher(db_url, build_senders(settings, ["email"]),
                            DispatchOptions(coalesce_seconds=0, idle_wait_s=1.0))
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        dispatcher.close()


def _busiest_seatgeek_event(db: psycopg.Connection[Any]) -> tuple[int, str, str, int]:
    """(event id, name, SeatGeek id, SeatGeek get-in cents) of the event with most listings."""
    row = db.execute(
        """SELECT e.id, e.name, es.source_event_id, min(lc.total_cents)
           FROM listings_current lc
           JOIN events e ON e.id = lc.event_id
           JOIN event_sources es ON es.event_id = e.id AND es.marketplace = 'seatgeek'
           WHERE lc.marketplace = 'seatgeek' AND lc.gone_at IS NULL
           GROUP BY 1, 2, 3 ORDER BY count(*) DESC, 1 LIMIT 1""").fetchone()
    db.commit()
    assert row is not None, "the first crawl stored no SeatGeek listings"
    return int(row[0]), str(row[1]), str(row[2]), int(row[3])


def _under(truth: dict[str, Any], threshold: int) -> list[int]:
    """All-in prices of live, well-formed SeatGeek listings at or under ``threshold``."""
    prices = []
    for listing in truth["listings"]:
        shown = listing["marketplaces"].get("seatgeek")
        if shown and "malformed" not in shown and shown["all_in_cents"] <= threshold:
            prices.append(int(shown["all_in_cents"]))
    return prices


def _statuses(db: psycopg.Connection[Any], user: int, timeout: float = 10.0) -> list[str]:
    """The user's outbox statuses once none is pending (the dispatcher commits its round
    just after the SMTP server accepted)."""
    deadline = time.monotonic() + timeout
    while True:
        got = [r[0] for r in db.execute("SELECT status FROM alert_outbox WHERE user_id = %s "
                                        "ORDER BY id", (user,)).fetchall()]
        db.commit()
        if "pending" not in got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_sandbox_price_drop_is_emailed(db_url: str, db: psycopg.Connection[Any],
                                       make_sandbox: Any, smtp: SmtpBox, dispatching: None,
                                       tmp_path: Path) -> None:
    from tests.test_dashboard_browser import Crawl

    sandbox = make_sandbox(seed=7, events=8, listings_per_event=60, faults="none")
    crawl = Crawl(sandbox, db_url, tmp_path)
    try:
        crawl.run(datetime.now(UTC))
        event_id, name, sg_id, get_in = _busiest_seatgeek_event(db)
        user = db.execute("INSERT INTO users (email, email_verified_at) VALUES (%s, now()) "
                          "RETURNING id",
                          (EMAIL,)).fetchone()[0]
        threshold = get_in - 1  # nothing on sale matches now: only a drop can
        db.execute("""INSERT INTO alert_rules (user_id, event_id, kind, threshold_cents)
                      VALUES (%s, %s, 'price_at_or_below', %s)""", (user, event_id, threshold))
        db.commit()
        world_id = next(e["world_event_id"] for e in sandbox.truth()["events"]
                        if e["ids"].get("seatgeek") == sg_id)
        under: list[int] = []
        for _ in range(60):  # the marketplaces' clock moves until a listing is under target
            sandbox.advance(6 * 3600)
            under = _under(sandbox.truth(world_id), threshold)
            if under:
                break
        assert under, f"no SeatGeek listing of {name} fell under ${threshold / 100:.2f}"
        assert smtp.received == []

        crawl.run(datetime.now(UTC))  # the drop is crawled, committed and matched

        mail = smtp.wait_for(1, timeout=30)
        assert [m.rcpt_tos for m in mail] == [[EMAIL]], "exactly one email, to the fan"
        msg = mail[0].message
        text = msg.get_body(("plain",)).get_content()
        assert name in str(msg["Subject"])
        cheapest = min(under)
        price = f"${cheapest / 100:,.0f}" if cheapest % 100 == 0 else f"${cheapest / 100:,.2f}"
        assert price in text, f"{price} not in the email:\n{text}"
        assert _statuses(db, user) == ["sent"]
    finally:
        crawl.close()
