"""A scripted browser session (Playwright driving Debian's Chromium) through saved searches,
recommendations and the operations page's product analytics, on the seeded API database
served on real HTTP; screenshots land in ``tests/artifacts/discovery/``.

The person signs up, searches, saves the search with alerts, follows a team, opens events
and follows a buy link; the engine's recommendation job runs (what the maintenance loop
does every 15 minutes); the home page then recommends with reasons. An administrator's
operations page charts what was recorded.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
import pytest

from tests.fixtures_api import confirm_email_in_browser
from tests.test_dashboard_browser import ARTIFACTS as DASHBOARD_ARTIFACTS
from tests.test_dashboard_browser import browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

ARTIFACTS = DASHBOARD_ARTIFACTS.parent / "discovery"


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_saved_search_recommendations_and_analytics_pages(
        api_base_url: str, api_world: Any, browser: Any) -> None:  # noqa: F811
    from engine.recommend.job import refresh_recommendations

    base = api_base_url
    email = f"fan-{uuid.uuid4().hex[:8]}@example.com"
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.goto(base + "/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r".*/login\b.*"))
    confirm_email_in_browser(page, base, email)
    home = page.locator("#picks-title").inner_text()
    assert home.startswith("Popular"), home  # no history yet: the cold start

    page.get_by_label("Team, performer, venue or city").fill("Blazers")
    page.locator("summary", has_text="More filters").click()
    page.get_by_label("Up to ($, all-in)").fill("400")
    page.get_by_label("Sort by").select_option("price")
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url("**/?q=Blazers*")
    page.get_by_label("Save this search as").fill("Blazers under $400")
    page.get_by_label("and listings that match").check()
    page.get_by_role("button", name="Save this search").click()
    page.wait_for_url("**/saved-searches/*")
    assert "Saved “Blazers under $400”" in page.locator(".flash").inner_text()
    assert page.locator(".event-card").count() >= 1
    _shot(page, "01-saved-search")

    page.goto(base + "/?q=nothing-matches-this")
    assert "No upcoming events match" in page.content()
    page.goto(base + "/alerts")
    page.get_by_placeholder("Follow a performer or team").fill("Seattle Kraken")
    page.get_by_role("button", name="Follow").click()
    page.goto(base + f"/events/{api_world.event_ids[1]}")
    with ctx.expect_page() as tab:
        page.locator("a[href^='/go/']").first.click()
    tab.value.close()

    result = refresh_recommendations(api_world.db_url)
    assert result["picks"] >= 1
    page.goto(base + "/")
    assert page.locator("#picks-title").inner_text() == "Recommended for you"
    reasons = page.locator(".pick .reason").all_inner_texts()
    assert "Because you follow Seattle Kraken" in reasons, reasons
    _shot(page, "02-recommended-for-you")

    page.goto(base + "/saved-searches")
    assert "Blazers under $400" in page.content()
    _shot(page, "03-saved-searches")

    with psycopg.connect(api_world.db_url) as conn:
        conn.execute("UPDATE users SET is_admin = true WHERE email = %s", (email,))
    response = page.goto(base + "/ops#product")
    assert response is not None and response.status == 200
    assert "nothing-matches-this" in page.locator("table.compact").inner_text()
    assert page.locator("svg.bars rect").count() >= 2
    assert page.locator(".funnel li").count() == 3
    page.locator("#product").scroll_into_view_if_needed()
    _shot(page, "04-ops-analytics")
    ctx.close()
