"""The webhook endpoints page, the purchases / price-protection pages and the freshness line
in a real headless Chromium over real HTTP: add an endpoint (the secret shown once), send a
test event that the real dispatcher delivers signed to a receiver on 127.0.0.1 (the log shows
200), record a purchase, see the cheaper listing the matcher kept as evidence on the claim
page, and an event page saying how fresh each marketplace's prices are. Screenshots go to
``tests/artifacts/alerts_plus/``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from sandbox.vendors.webhook_receiver import WebhookReceiver
from tests.fixtures_api import confirm_email_in_browser
from tests.test_dashboard_browser import browser  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "alerts_plus"


@pytest.fixture
def site(api_world: Any) -> Iterator[dict[str, Any]]:
    from api.app import create_app
    from engine.settings import load_settings
    from tests.fixtures_api import ServerThread

    settings = load_settings(RIPCITY_WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
                             RIPCITY_STALE_AFTER_SECONDS="600")
    receiver = WebhookReceiver().start()
    try:
        with ServerThread(create_app(settings, db_url=api_world.db_url)) as base:
            yield {"base": base, "settings": settings, "db_url": api_world.db_url,
                   "world": api_world, "receiver": receiver}
    finally:
        receiver.stop()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _dispatch(site: dict[str, Any]) -> None:
    from engine.alerts.dispatcher import Dispatcher, DispatchOptions, build_senders

    d = Dispatcher(site["db_url"], build_senders(site["settings"], ["webhook"],
                                                 site["db_url"]),
                   DispatchOptions(coalesce_seconds=0))
    try:
        while d.run_once():
            pass
    finally:
        d.close()


def test_webhooks_purchases_and_freshness_pages(site: dict[str, Any],
                                                browser: Any) -> None:  # noqa: F811
    base, receiver, db_url = site["base"], site["receiver"], site["db_url"]
    eid = site["world"].event_ids[2]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    email = f"dev-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(base + "/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=False).fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/login\b.*"))
    confirm_email_in_browser(page, base, email)

    # webhooks: add, the secret once, a test event delivered and logged
    page.goto(base + "/account/webhooks")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Description").fill("Deal bot")
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("#new-secret code.secret").inner_text().strip()
    assert secret.startswith("whsec_")
    receiver.secret = secret
    page.get_by_role("button", name="Send test event").click()
    assert "Test event queued" in page.locator(".flash").inner_text()
    _dispatch(site)
    [got] = receiver.wait_for(1)
    assert got.verified and got.json["type"] == "endpoint.test"
    page.goto(base + "/account/webhooks")
    row = page.locator("table.log tbody tr").first
    assert "endpoint.test" in row.inner_text() and "200" in row.inner_text()
    assert secret not in page.content()  # shown once
    _shot(page, "01-webhook-endpoints")

    # price protection: record a purchase, a cheaper listing arrives, the claim page
    page.goto(f"{base}/purchases?event_id={eid}")
    page.get_by_label("Bought on").select_option("gametime")
    page.get_by_label("Section").fill("101")
    page.get_by_label("Row").fill("9")
    page.get_by_label("Tickets", exact=True).fill("1")
    page.get_by_label("All-in price paid per ticket ($)").fill("400")
    page.get_by_role("button", name="Watch this purchase").click()
    assert "Purchase recorded" in page.locator(".flash").inner_text()
    _cheaper_listing(db_url, eid)
    page.goto(base + "/purchases")
    assert "1 cheaper listing" in page.locator("[data-purchase]").first.inner_text()
    _shot(page, "02-purchases")
    page.get_by_role("link", name="Claim page (printable)").click()
    assert "pp-cheap-1" in page.locator("table.log").last.inner_text()
    assert "$350.00 per ticket below what you paid" in page.content()
    _shot(page, "03-claim-page")

    # freshness: SeatGeek's last complete crawl 14 minutes ago, Ticketmaster's 2
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM source_event_crawls")
        conn.execute(
            """INSERT INTO source_event_crawls (marketplace, source_event_id, complete_at)
               VALUES ('seatgeek', %s, now() - interval '14 minutes'),
                      ('ticketmaster', %s, now() - interval '2 minutes')""",
            (f"seatgeek-{eid}", f"ticketmaster-{eid}"))
    page.goto(f"{base}/events/{eid}")
    line = page.locator("ul.freshness").inner_text()
    assert "SeatGeek prices as of 14 min ago" in line
    assert "SeatGeek is not answering us" in line
    assert "Ticketmaster prices as of 2 min ago" in line
    page.locator(".event-head").screenshot(path=str(ARTIFACTS / "04-freshness-line.png"))
    _shot(page, "05-event-page-freshness")
    ctx.close()


def _cheaper_listing(db_url: str, eid: int) -> None:
    """A $50 listing in section 101, row 1 (better than row 9), through the real write path
    and matcher."""
    from engine.alerts import match
    from storage.ingest import write_snapshots
    from storage.records import LISTING_SCHEMA
    from tests.fixtures_api import listing_batch

    rows = listing_batch(f"seatgeek-{eid}", "seatgeek", 1).to_pylist()
    rows[0].update(listing_id="pp-cheap-1", price_cents=5_000, fees_cents=0, total_cents=5_000,
                   observed_at=datetime.now(UTC))
    with psycopg.connect(db_url) as conn:
        result = write_snapshots(conn, pa.RecordBatch.from_pylist(rows, schema=LISTING_SCHEMA),
                                 touch_interval_s=0)
        conn.commit()
        match(conn, result)
        conn.commit()
