"""Web hardening (issue 16, items 3, 7 and 10), over real HTTP against real PostgreSQL.

Inputs: every cursor and date parameter and every dashboard form is decoded into a typed
value before SQL — wrong shapes answer 422 (API) or a page note (dashboard), never 5xx,
checked by hand-picked cases and by hypothesis. Headers: a strict CSP with a per-response
nonce, nosniff, no framing and a referrer policy on every page; third-party scripts come from
our own origin, installed by npm from the lockfile. Smaller: Stripe signatures from the
future are refused, /metrics needs a token or loopback, 422 bodies do not echo the
database, request headers are capped, and the OpenAPI document declares who may call what.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin

import httpx
import hypothesis
import pytest
from hypothesis import strategies as st

from bench.security_fuzz import dashboard_pages, discover_forms, fuzz_account, fuzz_forms
from tests.fixtures_api import INBOX, ServerThread, new_user

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "api" / "assets"
PROPERTY = hypothesis.settings(max_examples=60, deadline=None, derandomize=True,
                               database=None, suppress_health_check=list(hypothesis.HealthCheck))


@pytest.fixture(scope="module")
def web(api_world) -> Iterator[str]:
    """The app with limits raised (hypothesis sends hundreds of requests from one address)."""
    from api.app import create_app

    with ServerThread(create_app(db_url=api_world.db_url, rate_limit_multiplier=1000)) as b:
        yield b


@pytest.fixture(scope="module")
def member(web, api_world) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    """A signed-in browser-like client (session cookie) with a watchlist entry and a rule."""
    with httpx.Client(base_url=web, timeout=30) as client:
        yield client, fuzz_account(client, api_world.event_ids[0], INBOX[0])


def cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _flash(r: httpx.Response) -> str:
    return unquote(r.cookies.get("ripcity_flash") or "")


# --- item 3: every input typed before SQL -------------------------------------------------

_BAD_CURSORS = [[{}, []], [[1, 2], 1], [True, 1], [1e308, 1], [1, True], ["x", "y"],
                [None, 1], [1.5], [True], [-1], [1, 2, 3, 4], {"a": 1}, "text", 7]


def _cursor_paths(world: Any) -> list[str]:
    e = world.event_ids[0]
    return ["/api/v1/events?sort=date", "/api/v1/events?sort=price",
            "/api/v1/events?sort=deal", f"/api/v1/events/{e}/listings?sort=price",
            f"/api/v1/events/{e}/listings?sort=deal", "/api/v1/deals", "/api/v1/deals/for-me",
            "/api/v1/watchlists", "/api/v1/alert-rules", "/api/v1/alerts"]


@pytest.mark.parametrize("bad", _BAD_CURSORS, ids=json.dumps)
def test_cursors_of_the_wrong_shape_answer_422_naming_the_cursor(web, member, api_world, bad):
    _, who = member
    with httpx.Client(base_url=web, headers=who["headers"], timeout=30) as api:
        for path in _cursor_paths(api_world):
            r = api.get(path, params={"cursor": cursor(bad)})
            assert r.status_code == 422, (path, r.status_code, r.text)
            assert r.json()["errors"][0]["field"] == "cursor", r.text
            assert "next_cursor" in r.json()["detail"]
    page = httpx.get(f"{web}/", params={"cursor": cursor(bad)})
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    assert "cursor" in page.text


def test_issued_cursors_still_page_through(web, api_world):
    """The typed cursors decode what the API itself encodes (dates, prices, scores, ids)."""
    with httpx.Client(base_url=web, timeout=30) as api:
        for sort in ("date", "price", "deal"):
            first = api.get("/api/v1/events", params={"sort": sort, "limit": 2}).json()
            second = api.get("/api/v1/events", params={"sort": sort, "limit": 2,
                                                       "cursor": first["next_cursor"]})
            assert second.status_code == 200, second.text
            assert {e["id"] for e in first["items"]}.isdisjoint(
                e["id"] for e in second.json()["items"])
        deals = api.get("/api/v1/deals", params={"limit": 3}).json()
        assert api.get("/api/v1/deals", params={"limit": 3, "cursor": deals["next_cursor"]}
                       ).status_code == 200


_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False) | st.text(max_size=30)
    | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8)


@PROPERTY
@hypothesis.given(value=st.lists(_json, min_size=1, max_size=4) | _json, which=st.integers())
def test_property_any_cursor_never_answers_5xx(web, member, api_world, value, which):
    _, who = member
    paths = [*_cursor_paths(api_world), "/"]
    path = paths[which % len(paths)]
    r = httpx.get(urljoin(web, path), params={"cursor": cursor(value)},
                  headers=who["headers"], timeout=30)
    assert r.status_code < 500, (path, value, r.text[:300])
    assert r.status_code in (200, 422), (path, value, r.status_code)


@pytest.mark.parametrize("path,params,field", [
    ("/", {"to": "9999-12-31"}, "to"),
    ("/", {"from": "0001-01-01"}, "from"),
    ("/api/v1/events", {"starts_before": "9999-12-31T23:59:59-12:00"}, "starts_before"),
    ("/api/v1/events", {"starts_after": "0001-01-01T00:00:00+14:00"}, "starts_after"),
    ("/api/v1/deals", {"starts_before": "9999-12-31T23:00:00-12:00"}, "starts_before"),
    ("/api/v1/events/{e}/history", {"until": "9999-12-31T23:59:59-12:00"}, "until"),
    ("/api/v1/events/{e}/history", {"until": "0001-01-02T00:00:00Z"}, "until"),
    ("/api/v1/events/{e}/history", {"since": "0001-01-01T00:00:00Z"}, "since"),
])
def test_dates_out_of_range_answer_422_naming_the_field(web, api_world, path, params, field):
    r = httpx.get(web + path.format(e=api_world.event_ids[0]), params=params, timeout=30)
    assert r.status_code == 422, r.text
    if path.startswith("/api"):
        assert r.json()["errors"][0]["field"] == field
    else:
        assert "1970" in r.text and "2200" in r.text


#: any instant, with extra weight on the ends of the calendar, where arithmetic overflows
_instants = st.one_of(st.datetimes(), st.datetimes(min_value=datetime(9999, 12, 31)),
                      st.datetimes(max_value=datetime(1, 1, 1, 23, 59)))


@PROPERTY
@hypothesis.given(when=st.builds(lambda d, tz: d.replace(tzinfo=tz), _instants,
                                st.none() | st.timezones()),
                  day=_instants.map(lambda d: d.date()), which=st.integers())
def test_property_any_date_never_answers_5xx(web, api_world, when, day, which):
    e = api_world.event_ids[0]
    cases = [("/api/v1/events", "starts_after"), ("/api/v1/events", "starts_before"),
             ("/api/v1/deals", "starts_after"), ("/api/v1/deals", "starts_before"),
             (f"/api/v1/events/{e}/history", "since"), (f"/api/v1/events/{e}/history", "until"),
             ("/", "from"), ("/", "to")]
    path, name = cases[which % len(cases)]
    value = day.isoformat() if path == "/" else when.isoformat()
    r = httpx.get(web + path, params={name: value}, timeout=30)
    assert r.status_code in (200, 422), (path, name, value, r.status_code, r.text[:300])


@pytest.mark.parametrize("form,note", [
    ({"kind": "price_at_or_below", "event_id": "abc", "value": "50"}, "The event"),
    ({"kind": "price_at_or_below", "event_id": "{e}", "value": "inf"}, "price in dollars"),
    ({"kind": "price_at_or_below", "event_id": "{e}", "value": "1e999"}, "price in dollars"),
    ({"kind": "drop_percent", "event_id": "{e}", "value": "nan"}, "must be a number"),
    ({"kind": "price_at_or_below", "event_id": "{e}", "value": "50", "quantity": "lots"},
     "Tickets"),
    ({"kind": "price_at_or_below", "event_id": "99999999999999999999999", "value": "5"},
     "The event"),
])
def test_bad_rule_forms_come_back_as_a_note_naming_the_box(member, api_world, form, note):
    client, who = member
    data = {k: v.format(e=api_world.event_ids[0]) for k, v in form.items()}
    r = client.post("/alerts/rules", data={**data, "csrf": who["csrf"]},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    assert _flash(r).startswith("!") and note in _flash(r), _flash(r)


@pytest.mark.parametrize("start,end", [("25:99", "07:00"), ("22:00", "24:00"),
                                       ("9:5", "07:00")])
def test_impossible_quiet_hours_are_refused_with_a_note(member, start, end):
    client, who = member
    r = client.post("/account/notifications", follow_redirects=False, data={
        "csrf": who["csrf"], "quiet_start": start, "quiet_end": end})
    assert r.status_code == 303 and "Quiet hours" in _flash(r), (r.status_code, _flash(r))
    good = client.post("/account/notifications", follow_redirects=False, data={
        "csrf": who["csrf"], "quiet_start": "22:00", "quiet_end": "07:00"})
    assert _flash(good) == "Notification settings saved."


def test_bad_watch_form_is_a_note(member):
    client, who = member
    r = client.post("/watchlists", data={"csrf": who["csrf"], "kind": "venue",
                                         "venue_id": "-5"}, follow_redirects=False)
    assert r.status_code == 303 and "The venue" in _flash(r)


@pytest.mark.slow
def test_form_fuzzer_over_every_dashboard_form_finds_no_5xx(web, api_world):
    """Every form on the dashboard's pages, 12 generated submissions each (bounded; the
    longer run is ``python -m bench.security_fuzz``)."""
    with httpx.Client(base_url=web, timeout=30) as client:
        who = fuzz_account(client, api_world.event_ids[0], INBOX[0])
        forms = discover_forms(client, dashboard_pages(api_world.event_ids[0]))
        actions = {f.action.split("?")[0] for f in forms}
        assert {"/", "/deals", "/alerts/rules", "/watchlists", "/account/notifications",
                "/account/profile", "/account/keys", "/login", "/signup"} <= actions, actions
        tally = fuzz_forms(client, forms, who["csrf"], 12)
    assert tally.cases >= 12 * len(forms) // 2
    assert tally.server_errors == 0, tally.failures


# --- item 7: headers, CSP, assets from our own origin ---------------------------------------

def _pages(world: Any) -> list[str]:
    e = world.event_ids[0]
    return ["/", "/deals", f"/events/{e}", "/alerts", "/account", "/login", "/signup",
            "/forgot", "/schema", "/schema/swagger"]


def _nonce(csp: str) -> str:
    m = re.search(r"script-src 'self' 'nonce-([^']+)'", csp)
    assert m, csp
    return m.group(1)


@pytest.mark.parametrize("path", ["/", "/deals", "/account", "/schema", "/schema/swagger",
                                  "/api/v1/events", "/healthz", "/no-such-page",
                                  "/static/app.css", "/assets/htmx/htmx.min.js",
                                  "/api/v1/watchlists"])
def test_every_response_carries_the_security_headers(web, member, path):
    client, _ = member
    r = client.get(path, follow_redirects=False)
    csp = r.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "base-uri 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    again = client.get(path, follow_redirects=False).headers["content-security-policy"]
    assert _nonce(again) != _nonce(csp)  # a fresh nonce per response


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def test_pages_load_scripts_and_styles_only_from_our_origin(web, member, api_world):
    client, _ = member
    for path in _pages(api_world):
        r = client.get(path)
        assert r.status_code == 200, path
        nonce = _nonce(r.headers["content-security-policy"])
        parser = _Tags()
        parser.feed(r.text)
        for tag, a in parser.tags:
            url = a.get("src") if tag == "script" else (
                a.get("href") if tag == "link" and a.get("rel") == "stylesheet" else None)
            if tag == "script" and not url:
                assert a.get("nonce") == nonce, (path, a)  # an inline script needs the nonce
            if url:
                assert url.startswith("/") and not url.startswith("//"), (path, url)
                assert client.get(url).status_code == 200, (path, url)
            assert "style" not in a, (path, tag, a)  # no inline styles under the CSP
            assert not any(k.startswith("on") for k in a), (path, tag, a)
        assert not re.search(r"cdn\.|unpkg|jsdelivr|@latest", r.text), path


def test_third_party_assets_are_pinned_npm_installs_never_committed(web):
    pins = json.loads((ASSETS / "package.json").read_text())["dependencies"]
    lock = json.loads((ASSETS / "package-lock.json").read_text())["packages"]
    served = {"htmx.org": ("/assets/htmx/htmx.min.js", "dist/htmx.min.js"),
              "uplot": ("/assets/uplot/uPlot.iife.min.js", "dist/uPlot.iife.min.js"),
              "@scalar/api-reference": ("/assets/scalar/standalone.js",
                                        "dist/browser/standalone.js"),
              "swagger-ui-dist": ("/assets/swagger/swagger-ui-bundle.js",
                                  "swagger-ui-bundle.js")}
    for name, (url, installed) in served.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", pins[name]), (name, pins[name])  # exact pin
        assert lock[f"node_modules/{name}"]["version"] == pins[name]
        assert lock[f"node_modules/{name}"]["integrity"].startswith("sha512-")
        body = httpx.get(web + url).content
        assert body == (ASSETS / "node_modules" / name / installed).read_bytes(), url
    tracked = subprocess.run(["git", "ls-files", "api/static/vendor", "api/assets"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert sorted(tracked.split()) == ["api/assets/package-lock.json", "api/assets/package.json"]
    makefile = (ROOT / "Makefile").read_text()
    assert "cd api/assets && npm ci" in makefile


# --- item 10: the smaller ones --------------------------------------------------------------

def test_stripe_events_signed_in_the_future_are_refused(api_template_db):
    from api.app import create_app
    from engine.settings import load_settings
    from sandbox.vendors.stripe_api import FakeStripe
    from tests.fixtures_api import fresh_database

    with fresh_database(api_template_db) as db_url, FakeStripe() as fake:
        settings = load_settings(STRIPE_API_KEY=fake.api_key,
                                 STRIPE_WEBHOOK_SECRET=fake.webhook_secret,
                                 STRIPE_API_BASE=fake.url, RIPCITY_REDIS_URL="")
        with ServerThread(create_app(settings, db_url=db_url)) as base:
            url = f"{base}/webhooks/stripe"
            event = {"id": "evt_future_1", "object": "event", "type": "customer.created",
                     "created": int(time.time()), "data": {"object": {"id": "cus_1"}}}
            future = fake.deliver(event, url=url, timestamp=int(time.time()) + 3600)
            assert future.status_code == 400, future.text
            assert "future" in future.json()["detail"]
            slight = fake.deliver(event, url=url, timestamp=int(time.time()) + 30)
            assert slight.status_code == 200, slight.text  # clock skew within tolerance


def test_metrics_need_the_token_when_one_is_set(api_world):
    from api.app import create_app
    from engine.settings import load_settings

    token = "m" * 32
    settings = load_settings(RIPCITY_METRICS_TOKEN=token, RIPCITY_REDIS_URL="")
    with ServerThread(create_app(settings, db_url=api_world.db_url)) as base:
        assert httpx.get(f"{base}/metrics").status_code == 401
        wrong = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "RIPCITY_METRICS_TOKEN" in wrong.json()["detail"]
        ok = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and "ripcity_api_requests" in ok.text


def _non_loopback_address() -> str | None:
    import socket

    import psutil

    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return str(a.address)
    return None


def test_metrics_without_a_token_answer_only_this_machine(api_world):
    from api.app import create_app

    outside = _non_loopback_address()
    if outside is None:
        pytest.skip("this machine has no non-loopback IPv4 address to call from")
    server = ServerThread(create_app(db_url=api_world.db_url))
    server.config.host = "0.0.0.0"
    with server as base:
        port = base.rsplit(":", 1)[1]
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
        far = httpx.get(f"http://{outside}:{port}/metrics")
        assert far.status_code == 403 and "RIPCITY_METRICS_TOKEN" in far.json()["detail"]


def test_values_the_database_refuses_are_described_not_echoed(member):
    _, who = member
    r = httpx.post(f"{member[0].base_url}/api/v1/watchlists", headers=who["headers"],
                   json={"kind": "performer", "performer": "Blazers\u0000"})
    assert r.status_code == 422, r.text
    assert "PostgreSQL" not in r.text and "NUL (0x00) character" in r.json()["detail"]


def test_request_headers_are_capped(web):
    ok = httpx.get(f"{web}/healthz", headers={"X-Pad": "a" * 4000})
    assert ok.status_code == 200
    for size in (20_000, 1_000_000):
        r = httpx.get(f"{web}/healthz", headers={"X-Pad": "a" * size})
        assert r.status_code == 431, size
        assert r.headers["content-type"] == "application/problem+json"
        assert "16384" in r.json()["detail"]


def test_openapi_declares_who_may_call_each_operation(web):
    doc = httpx.get(f"{web}/schema/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert {"apiKey", "session", "metricsToken", "stripeSignature"} <= set(schemes)
    paths = doc["paths"]
    user = [{"apiKey": []}, {"session": []}]
    assert paths["/api/v1/watchlists"]["get"]["security"] == user
    assert paths["/api/v1/alert-rules"]["post"]["security"] == user
    assert paths["/api/v1/events"]["get"].get("security") in (None, [{}, *user])
    assert paths["/metrics"]["get"]["security"] == [{"metricsToken": []}]
    hook = paths["/webhooks/stripe"]["post"]
    assert hook["security"] == [{"stripeSignature": []}]
    assert "400" in hook["responses"] and "tolerance" in hook["responses"]["400"]["description"]


def test_sms_unsubscribe_page_talks_about_texts(web, api_world):
    import psycopg

    from api.settings import get_app_settings
    from storage.unsubscribe import unsubscribe_url

    with httpx.Client(base_url=web) as c:
        user = new_user(c)
    with psycopg.connect(api_world.db_url) as conn:
        (user_key,), = conn.execute("SELECT unsubscribe_key FROM users WHERE id = %s",
                                    (user["id"],)).fetchall()
    link = unsubscribe_url(web, get_app_settings().secret_key, user["id"], "sms", user_key)
    page = httpx.get(link)
    assert page.status_code == 200, page.text
    assert "Stop alert texts?" in page.text and "emails" not in page.text


# --- the browser's view: nothing blocked, everything drawn ----------------------------------

_REPORT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " +
                    (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


@pytest.mark.slow
@pytest.mark.browser
def test_chromium_runs_every_page_under_the_csp_without_a_violation(web, member, api_world):
    """A real Chromium: the search page (htmx), an event page (uPlot chart, autosubmit),
    the account page, Scalar at /schema and Swagger UI at /schema/swagger all work with the
    policy enforced, and the browser reports no violation and requests nothing off-site."""
    from playwright.sync_api import sync_playwright

    from engine.settings import get_settings

    chromium = get_settings().chromium_path
    if not Path(chromium).exists():
        pytest.skip(f"Chromium not found at {chromium}: `apt-get install chromium`")
    client, _ = member
    cookies = [{"name": k, "value": v, "url": web} for k, v in client.cookies.items()]
    off_site: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        ctx = browser.new_context()
        ctx.add_cookies(cookies)
        ctx.add_init_script(_REPORT_VIOLATIONS)
        ctx.on("request", lambda r: off_site.append(r.url)
               if not r.url.startswith((web, "data:", "blob:", "about:")) else None)
        page = ctx.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"[:300]))
        page.on("pageerror", lambda err: console.append(f"pageerror: {err}"[:300]))
        page.on("response", lambda r: console.append(f"{r.status} {r.url}")
                if r.status >= 400 else None)
        e = api_world.event_ids[0]

        page.goto(f"{web}/", wait_until="networkidle")
        assert page.evaluate("typeof window.htmx") == "object"
        assert page.evaluate("window.__csp") == []

        page.goto(f"{web}/events/{e}?range=30d", wait_until="networkidle")
        page.wait_for_function("document.getElementById('chart').dataset.drawn !== undefined")
        assert page.evaluate("typeof window.uPlot") == "function"
        assert page.evaluate("window.__csp") == []

        page.goto(f"{web}/account", wait_until="networkidle")
        assert page.evaluate("window.__csp") == []

        page.goto(f"{web}/schema", wait_until="networkidle")
        page.wait_for_selector("text=Liveness: the process serves requests", timeout=30_000)
        # Scalar bundles zod, which probes `Function("")` once and, refused by the CSP, runs
        # without compiled validators: that refusal is the policy working, nothing else is
        assert [v for v in page.evaluate("window.__csp")
                if not v.startswith("script-src eval ")] == [], console

        page.goto(f"{web}/schema/swagger", wait_until="networkidle")
        page.wait_for_selector(".opblock", timeout=30_000)
        assert page.evaluate("window.__csp") == [], console
        browser.close()
    assert off_site == [], off_site
    assert not [c for c in console if c[:1] in "45"], console
