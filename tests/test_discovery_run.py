"""A ``make run`` session, scripted: the real main job (``ripcity run`` on its embedded
defaults -- embedded PostgreSQL, the local sandbox marketplace, local Ray -- in a temporary
data directory, on free ports, a small sandbox world) is driven by Debian's Chromium.

A fan signs up (the confirmation link from the SMTP inbox), searches (once finding nothing),
saves a search with alerts, opens events, follows a buy link and watches an event; the
sandbox's clock jumps half a day and the fan asks for fresh prices of those events (the
REST refresh) until the saved search alerts on a new or cheaper listing, the run's own
dispatcher sends the email and the fan follows its link; the recommendations (what the
maintenance loop refreshes every 15 minutes) show on the home page. The administrator
claims the first-admin link ``ripcity run`` printed and opens the operations page, whose
product analytics charts show what happened. Screenshots of the operations page, the
saved-search pages and the recommendations land in ``tests/artifacts/discovery-run/``.
SIGTERM then stops the run cleanly.
"""

from __future__ import annotations

import contextlib
import re
import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from bench.harness import free_port
from engine.cli.stopping import STOPPED_CLEANLY
from tests.commands import Command, clean_env, still_running
from tests.fixtures_api import confirm_email_in_browser
from tests.test_dashboard_browser import ARTIFACTS as DASHBOARD_ARTIFACTS
from tests.test_dashboard_browser import browser  # noqa: F401  (the fixture)
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = DASHBOARD_ARTIFACTS.parent / "discovery-run"
NOTHING = "nothing-matches-this"


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _database_url(data_dir: Path) -> str:
    """The run's embedded PostgreSQL (its Unix socket in the data directory)."""
    from storage.embedded import DATABASE, running_server

    server = running_server(data_dir)
    assert server is not None and server.socket_dir, "the embedded PostgreSQL is not running"
    return f"postgresql://postgres@/{DATABASE}?host={quote(server.socket_dir)}&port={server.port}"


def _crawled(base: str) -> list[dict[str, Any]]:
    """Upcoming events with listings, once the first crawl stored a few (else [])."""
    got = httpx.get(f"{base}/api/v1/events", params={"limit": 100}, timeout=20)
    items = [e for e in got.json()["items"] if e["listing_count"] > 0 and e["performers"]]
    return items if len(items) >= 4 else []


def _fan_outbox(db_url: str, email: str) -> int:
    with psycopg.connect(db_url) as conn:
        return int(conn.execute(
            """SELECT count(*) FROM alert_outbox o JOIN users u ON u.id = o.user_id
               WHERE u.email = %s AND o.saved_search_id IS NOT NULL""", (email,)).fetchone()[0])


def test_a_make_run_session_charts_what_people_did(embedded_data_dir: Path,
                                                    browser: Any) -> None:  # noqa: F811
    from engine.recommend.job import refresh_recommendations
    from sandbox.vendors.smtp_inbox import SmtpBox

    data_dir = embedded_data_dir
    inbox = SmtpBox().start()
    port, sandbox_port = free_port(), free_port()
    base, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    env = clean_env(RIPCITY_DATA_DIR=str(data_dir), RIPCITY_API_PORT=str(port),
                    RIPCITY_SANDBOX_PORT=str(sandbox_port), RIPCITY_SANDBOX_EVENTS="12",
                    RIPCITY_SANDBOX_LISTINGS_PER_EVENT="40", RIPCITY_CRAWL_WORKERS="1",
                    RIPCITY_SMTP_HOST="127.0.0.1", RIPCITY_SMTP_PORT=str(inbox.port),
                    RIPCITY_PUBLIC_URL=base)
    run = Command("run", "--sandbox-faults", "none", env=env, data_dir=data_dir)
    try:
        run.wait_for(r"dashboard: ", timeout=300)
        admin_link = run.wait_for(r"no administrator yet: create one at (\S+)").group(1)
        db_url = _database_url(data_dir)
        events = wait_until(lambda: _crawled(base), timeout=300, interval=1.0,
                            message="the first crawl stored no events with listings")
        performer = Counter(p for e in events for p in e["performers"]).most_common(1)[0][0]

        # -- a fan ----------------------------------------------------------------------
        email = f"fan-{uuid.uuid4().hex[:8]}@example.com"
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.goto(base + "/signup")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign up").click()
        page.wait_for_url(re.compile(r".*/login\b.*"))
        confirm_email_in_browser(page, base, email, inbox=inbox)

        page.get_by_label("Team, performer, venue or city").fill(performer)
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_url("**/?q=*")
        found = page.locator(".event-card")
        assert found.count() >= 1
        page.get_by_label("Save this search as").fill(f"{performer}, any price")
        page.get_by_label("and listings that match").check()
        page.get_by_role("button", name="Save this search").click()
        page.wait_for_url("**/saved-searches/*")
        assert f"Saved “{performer}, any price”" in page.locator(".flash").inner_text()
        assert page.locator(".event-card").count() >= 1
        _shot(page, "01-saved-search")

        page.goto(base + "/")
        page.get_by_label("Team, performer, venue or city").fill(NOTHING)
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_url(f"**/?q={NOTHING}*")
        assert "No upcoming events match" in page.content()
        # a REST search too (recorded also when the response cache answers)
        assert httpx.get(f"{base}/api/v1/events", params={"q": NOTHING}).json()["items"] == []

        opened, opened_ids = [], []  # the names their pages show, their ids
        for ev in [e for e in events if performer in e["performers"]][:2]:
            opened_ids.append(ev["id"])
            page.goto(f"{base}/events/{ev['id']}")
            opened.append(page.locator("h1").inner_text().strip())
            assert opened[-1]
        buy = page.locator("a[href^='/go/']").first
        href = buy.get_attribute("href")
        with ctx.expect_page() as tab:
            buy.click()
        tab.value.close()
        # where it leads: the marketplace's page of the event (asked without being counted)
        went = httpx.get(base + str(href), headers={"DNT": "1"})
        assert went.status_code == 303 and not went.headers["location"].startswith("/"), went
        page.get_by_role("button", name="Add to watchlist").click()
        page.wait_for_load_state()

        # the saved search alerts as the sandbox's prices move: its clock jumps half a day
        # and the fan asks for fresh prices of the events opened (the REST refresh, as the
        # session it is: cookie and CSRF header), until a listing is new or cheaper
        csrf = next(c["value"] for c in ctx.cookies() if c["name"] == "ripcity_csrf")
        for _ in range(3):  # a free plan's 6 refreshes an hour, 2 events
            if _fan_outbox(db_url, email):
                break
            moved = httpx.post(f"{sandbox}/_sandbox/clock", json={"seconds": 12 * 3600})
            assert moved.status_code == 200, moved.text
            for ev in opened_ids:
                asked = page.request.post(f"{base}/api/v1/events/{ev}/refresh",
                                          headers={"X-CSRF-Token": csrf})
                assert asked.status == 202, asked.text()
                poll = base + asked.json()["poll_url"]
                wait_until(lambda poll=poll: httpx.get(poll).json()["status"]
                           in ("done", "failed"), timeout=180, interval=1.0,
                           message="the refresh was not crawled")
            with contextlib.suppress(AssertionError):  # matched just after the commit
                wait_until(lambda: _fan_outbox(db_url, email), timeout=15, interval=1.0)
        assert _fan_outbox(db_url, email), "the saved search never alerted"
        message = wait_until(lambda: [r.message for r in inbox.received
                                      if email in r.rcpt_tos and r.header("X-Ripcity-Alert")],
                             timeout=120, message="no alert email")[-1]
        html = message.get_body(("html",)).get_content()
        follow = re.search(r'href="(http://127\.0\.0\.1:\d+/t/[^"]+/go\?[^"]+)"', html)
        assert follow is not None, html[:2000]
        pixel = re.search(r'src="([^"]+/open\.gif)"', html)
        assert pixel is not None
        # the mail client shows the email (its image), and the fan follows its link: on to
        # the marketplace's page of the event (not resolvable here, so not followed further)
        shown = page.request.get(pixel.group(1).replace("&amp;", "&"))
        assert shown.status == 200 and shown.headers["content-type"] == "image/gif"
        went = page.request.get(follow.group(1).replace("&amp;", "&"), max_redirects=0)
        assert went.status == 303 and went.headers["location"].startswith("http"), went

        # the maintenance loop's 15-minute refresh of every user's picks, done now
        assert refresh_recommendations(db_url)["picks"] >= 1
        page.goto(base + "/")
        assert page.locator("#picks-title").inner_text() == "Recommended for you"
        reasons = page.locator(".pick .reason").all_inner_texts()
        assert reasons and all(r.strip() for r in reasons), reasons
        _shot(page, "02-recommended-for-you")
        page.locator(".pick a").first.click()  # a recommendation followed
        page.wait_for_url("**/events/*")

        page.goto(base + "/saved-searches")
        assert f"{performer}, any price" in page.content()
        _shot(page, "03-saved-searches")
        ctx.close()

        # -- the administrator, from the link ``ripcity run`` printed -------------------
        admin = browser.new_context(viewport={"width": 1280, "height": 900})
        ops = admin.new_page()
        ops.set_default_timeout(30_000)
        ops.goto(admin_link)
        ops.get_by_label("Email").fill("boss@example.com")
        ops.get_by_label("Password").fill("a long enough secret")
        ops.get_by_role("button").last.click()
        ops.wait_for_url("**/ops")
        ops.goto(base + "/ops#product")
        product = ops.locator("#product")
        assert product.is_visible()
        empty = ops.locator("section[aria-labelledby='sd-title'] table.compact")
        assert NOTHING in empty.inner_text()
        searches = ops.locator("svg[aria-label^='Searches per day'] title").all_text_contents()
        found_n = sum(int(m) for t in searches for m in re.findall(r"(\d+) with results", t))
        empty_n = sum(int(m) for t in searches for m in re.findall(r"(\d+) with no results", t))
        assert found_n >= 1 and empty_n >= 2, searches  # the dashboard's and the REST one
        top = ops.locator("section[aria-labelledby='te-title'] li").all_inner_texts()
        links = ops.locator("section[aria-labelledby='te-title'] li a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))")
        assert all(f"/events/{ev}" in links for ev in opened_ids), (links, top)
        assert any(re.search(r"[1-9]\d* · [1-9]", t) for t in top), top  # viewed, bought
        funnel = [int(x) for x in ops.locator(".funnel li strong").all_inner_texts()]
        assert len(funnel) == 3 and all(n >= 1 for n in funnel), funnel  # sent, opened, followed
        active = ops.locator("svg[aria-label^='Distinct signed-in users'] title"
                             ).all_text_contents()
        assert any(re.search(r": [1-9]\d* users", t) for t in active), active
        product.scroll_into_view_if_needed()
        _shot(ops, "04-ops-analytics")
        admin.close()

        # -- SIGTERM stops everything it started ---------------------------------------
        family = run.family()
        run.signal(signal.SIGTERM)
        code, out = run.finish(120)
        assert code == 0, out[-4000:]
        assert out.rstrip().splitlines()[-1] == STOPPED_CLEANLY, out[-4000:]
        assert "Traceback" not in out
        assert still_running(family) == []
    finally:
        run.kill()
        inbox.stop()
