"""The operations page shows committed batches still waiting to be scored or matched, and
those failing (``post_commit_work``)."""

from __future__ import annotations

import re

import httpx
import psycopg

from engine.cli.welcome import first_admin_link
from engine.settings import load_settings
from tests.fixtures_api import ServerThread, fresh_database


def test_the_operations_page_counts_pending_and_failing_post_commit_work(
        api_template_db: str) -> None:
    from api.app import create_app

    with fresh_database(api_template_db) as url, ServerThread(create_app(db_url=url)) as base:
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO post_commit_work (score_pending, match_pending) "
                         "VALUES (true, true), (true, false), (false, true)")
            conn.execute("INSERT INTO post_commit_work (score_pending, match_pending, "
                         "attempts) VALUES (true, false, 7)")
        link = first_admin_link(base, load_settings(RIPCITY_ADMIN_EMAILS=""), url)
        assert link is not None
        with httpx.Client(base_url=base) as browser:
            token = link.split("token=", 1)[1]
            browser.post("/setup", data={"token": token, "email": "ops@example.com",
                                         "display_name": "Ops", "password": "a long secret!"})
            page = browser.get("/ops").text
    card = re.search(r"Post-commit work waiting</span><strong>(\d+)</strong>"
                     r"<span class=\"muted\">([^<]*)</span>", page)
    assert card is not None, page[:2000]
    assert card.group(1) == "5"
    assert "3 to score" in card.group(2) and "2 to match" in card.group(2)
    assert "1 failing" in card.group(2)
