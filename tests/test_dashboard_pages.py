"""Dashboard pages over real HTTP on the seeded API database: HTML renders, forms need an
account and their CSRF token, writes redirect with a note, errors are HTML pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.web.forecast import buy_or_wait


def _signed_up(base: str) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=base, timeout=20)
    r = c.post("/signup", data={"email": f"p{uuid.uuid4().hex[:8]}@example.com",
                                "password": "correct horse battery", "next": "/alerts"})
    assert r.status_code == 303 and r.headers["location"] == "/alerts"
    return c, c.cookies["ripcity_csrf"]


def test_public_pages_render_html(api_base_url: str, api_world: Any) -> None:
    eid = api_world.event_ids[0]
    with httpx.Client(base_url=api_base_url, timeout=20) as c:
        for path in ("/", "/?q=Blazers&from=&to=", f"/events/{eid}",
                     f"/events/{eid}?range=24h&section=101&sort=deal&quantity=2",
                     f"/events/{eid}/listings?sort=deal", "/deals?min_score=10", "/login"):
            r = c.get(path)
            assert r.status_code == 200, (path, r.text[:300])
            assert r.headers["content-type"].startswith("text/html")
        assert "Trail Blazers" in c.get("/?q=Blazers").text
        missing = c.get("/events/99999999")
        assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text
        assert c.get("/?from=someday").status_code == 422


def test_account_pages_need_login_and_forms_need_the_csrf_token(api_base_url: str,
                                                                api_world: Any) -> None:
    eid = api_world.event_ids[0]
    anon = httpx.Client(base_url=api_base_url, timeout=20)
    r = anon.get("/alerts")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    c, csrf = _signed_up(api_base_url)
    form = {"event_id": str(eid), "kind": "price_at_or_below", "max_price": "80",
            "back": f"/events/{eid}"}
    assert c.post("/alerts/rules", data={**form, "csrf": "forged"}).status_code == 403
    r = c.post("/alerts/rules", data={**form, "csrf": csrf})
    assert r.status_code == 303
    page = c.get(f"/events/{eid}").text
    assert "Alert created" in page
    alerts = c.get("/alerts").text
    assert "All-in price at or below $80" in alerts
    r = c.post("/account/notifications", data={"csrf": csrf, "email_alerts": "on",
                                                "timezone": "Mars/Base", "quiet_start": ""})
    assert "not a time zone" in c.get("/account").text
    assert c.get("/ops").status_code == 403


def test_forecast_says_why() -> None:
    now = datetime.now(UTC)
    falling = [(now - timedelta(hours=h), 10_000 - (48 - h) * 50) for h in range(48, 0, -6)]
    advice = buy_or_wait(falling, now + timedelta(days=30), now)
    assert advice.action == "wait" and advice.reasons
    assert buy_or_wait(falling, now + timedelta(hours=20), now).action == "buy"
    assert buy_or_wait(falling[:1], None, now).action == "unknown"
