"""The dashboard in a real headless Chromium, over real HTTP, on data crawled from the sandbox.

Sign up -> search for a Blazers game -> open it -> the chart is drawn with real points ->
create an alert below the current price -> the sandbox clock moves until the price drops,
the crawl is ingested (the alert matcher runs as the ingest hook), the dispatcher sends ->
the alert shows in the history as sent and the email reaches the local SMTP server.
Screenshots of every page go to ``tests/artifacts/`` for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.fixtures_api import confirm_email_in_browser

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts" / "dashboard"
SPIDERS = ("seatgeek", "ticketmaster")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]


class Crawl:
    """Crawls the sandbox in subprocesses and commits through the engine's ingest writer,
    change relay (the alert matcher) and deal scorer, in this process."""

    def __init__(self, sandbox: Any, db_url: str, work: Path) -> None:
        from engine.alerts.relay import ChangeRelay
        from engine.ingest_writer import IngestWriter

        self.sandbox, self.db_url, self.work = sandbox, db_url, work
        self.writer = IngestWriter(db_url)
        self.relay = ChangeRelay(db_url)
        self.scorer: Any = None
        self.rounds = 0
        #: spider arguments of every round (``-a end=YYYY-MM-DD`` narrows the crawl window)
        self.spider_args: list[str] = ["-a", "city=Portland"]

    def run(self, observed_at: datetime) -> None:
        from bench.crawl import sandbox_env
        from storage.records import EventRecord

        self.rounds += 1
        for spider in SPIDERS:
            out = self.work / f"crawl{self.rounds}-{spider}"
            env = {**os.environ, **sandbox_env(self.sandbox.urls),
                   "RIPCITY_DATA_DIR": str(out / "data")}
            proc = subprocess.run(
                [sys.executable, "-m", "crawler.run_once", spider, str(out), *self.spider_args,
                 "-s", "RIPCITY_RATE_LIMITS=0", "-s", "LOG_LEVEL=WARNING"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
            assert proc.returncode == 0, proc.stderr[-2000:]
            summary = json.loads((out / "summary.json").read_text())
            events = []
            for e in summary["events"]:
                fields = {k: e[k] for k in EventRecord.__dataclass_fields__ if k in e}
                fields["starts_at"] = (datetime.fromisoformat(e["starts_at"])
                                       if e.get("starts_at") else None)
                fields["observed_at"] = observed_at
                fields["performers"] = tuple(e.get("performers") or ())
                fields["cross_refs"] = tuple(tuple(x) for x in e.get("cross_refs") or ())
                events.append(EventRecord(**fields))
            self.writer.write_events(events)
            table = pq.read_table(out / "listings.parquet")
            stamp = pa.array([observed_at] * table.num_rows, table.schema.field(
                "observed_at").type)
            table = table.set_column(0, table.schema.field("observed_at"), stamp)
            for batch in table.to_batches():
                summary, changes = self.writer.write(batch)
                if summary.changed:
                    self.relay.on_changes(changes)
                self._score(batch)

    def _score(self, batch: pa.RecordBatch) -> None:
        if self.scorer is None:
            from engine.deals.actor import DealScorerActor

            self.scorer = DealScorerActor(self.db_url)
        self.scorer.score_and_store(batch)

    def advance(self, hours: float) -> None:
        r = httpx.post(f"{self.sandbox.base_url}/_sandbox/clock", json={"seconds": hours * 3600})
        r.raise_for_status()

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
def stack(db_url: str, make_sandbox: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Sandbox, crawled history, SMTP server and the app on uvicorn."""
    from api.app import create_app
    from engine.settings import load_settings
    from sandbox.vendors.smtp_inbox import SmtpBox
    from tests.fixtures_api import ServerThread

    sandbox = make_sandbox(seed=7, events=8, listings_per_event=60, faults="none")
    smtp = SmtpBox().start()
    admin = f"ops-{uuid.uuid4().hex[:6]}@example.com"
    settings = load_settings(RIPCITY_SMTP_HOST="127.0.0.1", RIPCITY_SMTP_PORT=smtp.port,
                             RIPCITY_ADMIN_EMAILS=admin)
    crawl = Crawl(sandbox, db_url, tmp_path)
    now = datetime.now(UTC)
    for hours_ago in (60, 48, 36, 24, 12, 0.2):  # a price history two and a half days long
        crawl.run(now - timedelta(hours=hours_ago))
        crawl.advance(12)
    app = create_app(settings=settings, db_url=db_url)
    try:
        with ServerThread(app) as base:
            yield {"base": base, "crawl": crawl, "smtp": smtp, "settings": settings,
                   "db_url": db_url, "admin": admin}
    finally:
        crawl.close()
        smtp.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from engine.settings import get_settings

    chromium = get_settings().chromium_path
    if not Path(chromium).exists():
        pytest.skip(f"Chromium not found at {chromium}: `apt-get install chromium` "
                    "(make setup does) or set RIPCITY_CHROMIUM_PATH")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _dispatch(stack: dict[str, Any]) -> int:
    from engine.alerts.dispatcher import Dispatcher, DispatchOptions, build_senders

    d = Dispatcher(stack["db_url"], build_senders(stack["settings"], ["email"]),
                   DispatchOptions(coalesce_seconds=0))
    try:
        return d.run_once()
    finally:
        d.close()


def _outbox(db_url: str, email: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("""SELECT o.id, o.status FROM alert_outbox o JOIN users u
                               ON u.id = o.user_id WHERE u.email = %s""", (email,)).fetchall()


def test_sign_up_search_chart_alert_and_email(stack: dict[str, Any], browser: Any) -> None:
    base, smtp = stack["base"], stack["smtp"]
    email = f"fan-{uuid.uuid4().hex[:8]}@example.com"
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)

    page.goto(base + "/signup")
    _shot(page, "01-signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/login\b.*"))
    assert "Check your inbox" in page.locator(".flash").inner_text()
    confirm_email_in_browser(page, base, email, smtp)
    assert "Email confirmed" in page.locator(".flash").inner_text()
    _shot(page, "02-home")

    page.get_by_label("Team, performer, venue or city").fill("Blazers")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/?q=Blazers*")
    cards = page.locator(".event-card")
    assert cards.count() >= 1
    assert "Trail Blazers" in cards.first.inner_text()
    assert cards.first.locator(".markets li").count() >= 1  # get-in per marketplace
    _shot(page, "03-search")

    cards.first.locator("h2 a").click()
    page.wait_for_url("**/events/*")
    chart = page.locator("#chart")
    page.wait_for_function("document.getElementById('chart').dataset.drawn !== undefined")
    assert int(chart.get_attribute("data-drawn") or 0) >= 4  # real points from 6 crawls
    assert chart.locator("canvas").count() >= 1
    assert page.locator("table.listings tbody tr").count() > 5
    _shot(page, "04-event")

    get_in = page.get_by_test_id("get-in").inner_text()
    price = page.get_by_label("Tell me when a ticket is at or below")
    threshold = float(price.input_value())
    assert threshold < float(get_in.strip("$").replace(",", ""))
    page.get_by_role("button", name="Create alert").click()
    page.wait_for_url("**/events/*")
    assert "Alert created" in page.locator(".flash").inner_text()

    crawl = stack["crawl"]
    for _ in range(16):  # the sandbox's prices move with its clock: wait for a drop
        if _outbox(stack["db_url"], email):
            break
        crawl.advance(12)
        crawl.run(datetime.now(UTC))
    assert _outbox(stack["db_url"], email), "the price never fell below the alert"
    assert _dispatch(stack) >= 1
    received = smtp.wait_for(2, timeout=15)  # the confirmation link, then the alert
    mine = [m for m in received if email in m.rcpt_tos
            and "Confirm your email" not in str(m.message["Subject"])]
    assert mine, f"no email to {email}; the SMTP server got {len(received)}"
    assert "Trail Blazers" in str(mine[0].message["Subject"])

    page.goto(base + "/alerts")
    row = page.locator("tr.alert-row").first
    assert "Trail Blazers" in row.inner_text()
    assert "sent" in row.locator(".status").inner_text()
    _shot(page, "05-alerts")

    page.goto(base + "/deals")
    _shot(page, "06-deals")
    page.goto(base + "/account")
    page.get_by_role("button", name="Create key").click()
    assert page.get_by_test_id("new-key").inner_text().startswith("rck_")
    _shot(page, "07-account")

    response = page.goto(base + "/ops")  # not an admin
    assert response is not None and response.status == 403
    assert "administrators" in page.content()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    mobile = phone.new_page()
    mobile.goto(base + "/?q=Blazers")
    _shot(mobile, "08-phone-search")
    phone.close()
    ctx.close()

    admin = browser.new_context(viewport={"width": 1280, "height": 900})
    page = admin.new_page()
    page.goto(base + "/signup")
    page.get_by_label("Email").fill(stack["admin"])
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/login\b.*"))
    confirm_email_in_browser(page, base, stack["admin"], stack["smtp"])
    response = page.goto(base + "/ops")
    assert response is not None and response.status == 200
    crawl_rows = page.locator("table").first.locator("tbody tr").all_inner_texts()
    assert any("SeatGeek" in r for r in crawl_rows)
    assert "email alert latency" in page.content()
    _shot(page, "09-ops")
    admin.close()
