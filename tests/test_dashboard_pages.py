"""Dashboard pages over real HTTP on the seeded API database: HTML renders, forms need an
account and their CSRF token, writes redirect with a note, errors are HTML pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.web.forecast import buy_or_wait
from tests.fixtures_api import dashboard_user


def _signed_up(base: str) -> tuple[httpx.Client, str]:
    c, csrf, _ = dashboard_user(base, "/alerts")
    return c, csrf


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


def test_quiet_hours_and_every_alert_kind_on_the_dashboard(api_base_url: str,
                                                           api_world: Any) -> None:
    import psycopg

    from engine.alerts import match
    from storage.ingest import write_snapshots
    from tests.fixtures_api import listing_batch

    eid = api_world.event_ids[3]
    c, csrf = _signed_up(api_base_url)
    # quiet hours saved before any rule exists are kept and shown
    c.post("/account/notifications", data={"csrf": csrf, "email_alerts": "on",
                                           "timezone": "America/Denver",
                                           "quiet_start": "22:00", "quiet_end": "07:00"})
    account = c.get("/account").text
    assert 'value="22:00"' in account and 'value="07:00"' in account

    event_page = c.get(f"/events/{eid}").text
    for kind in ("price_at_or_below", "drop_percent", "deal_score_at_least",
                 "new_listing_in_section", "back_in_stock"):
        assert f'value="{kind}"' in event_page, kind
    form = {"csrf": csrf, "event_id": str(eid), "back": f"/events/{eid}"}
    c.post("/alerts/rules", data={**form, "kind": "drop_percent"})
    assert "Enter a drop in percent or in dollars" in c.get(f"/events/{eid}").text
    c.post("/alerts/rules", data={**form, "kind": "drop_percent", "drop_dollars": "25",
                                  "window_hours": "6"})
    c.post("/alerts/rules", data={**form, "kind": "back_in_stock"})
    c.post("/alerts/rules", data={**form, "kind": "price_at_or_below",
                                  "max_price": "100000"})
    alerts = c.get("/alerts").text
    assert "Get-in price drops $25 or more within 6 hours" in alerts
    assert "Tickets are back after a sell-out" in alerts
    assert alerts.count("quiet 22:00–07:00") == 3  # rules created later follow the account
    assert alerts.count("not fired yet") == 3

    with psycopg.connect(api_world.db_url) as conn:  # a new listing under $100,000
        result = write_snapshots(conn, listing_batch(f"seatgeek-{eid}", "seatgeek", 1,
                                                     start=20_000), touch_interval_s=0)
        conn.commit()
        match(conn, result)
        conn.commit()
    alerts = c.get("/alerts").text
    assert alerts.count("not fired yet") == 2 and "last fired" in alerts
