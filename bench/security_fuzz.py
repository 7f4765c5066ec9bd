"""Fuzz every API operation (schemathesis) and every dashboard form; count 5xx answers.

    python -m bench.security_fuzz [--examples 60] [--form-examples 60] [--events 12]

Workload: a fresh database filled from the sandbox's model (``bench.api.fill``: ``--events``
events, 100 listings each), the real app served by uvicorn in a subprocess (httptools, as
``ripcity serve`` runs it), one signed-up account with an API key, a watchlist entry and an
alert rule (so the alerts page shows its edit and delete forms). Then:

* every operation of ``/schema/openapi.json`` gets ``--examples`` generated requests
  (schemathesis, deterministic), authenticated with the account's key;
* every ``<form>`` found on the dashboard's pages (search, deals, an event, alerts,
  account, sign-up, login, reset, setup) gets ``--form-examples`` submissions whose boxes
  hold generated text, numbers and known-bad values ("inf", "25:99", "9999-12-31", NUL,
  huge integers, ...), with the session's real CSRF token so the handlers run.

Prints one JSON object: cases and 5xx per kind (the goal is 0), the first few 5xx, the
fuzzing rate, and a baseline from the same run (``GET /healthz`` requests per second on the
same server, one client) so ``ratio`` reads as "a fuzz case costs N health checks".
The tests run the same functions with a small budget (``tests/test_web_security.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import hypothesis
from hypothesis import strategies as st

from bench.harness import emailed_token

#: values that broke parsers before: non-finite numbers, impossible clocks and dates,
#: NUL, huge integers, markup, SQL, odd unicode
NASTY = ["", " ", "abc", "inf", "-inf", "nan", "1e999", "-1e999", "1e308", "-1", "0", "0.0",
         "1.5", "9" * 40, "-" + "9" * 25, "25:99", "99:99", "24:00", "23:59", "9999-12-31",
         "0001-01-01", "2026-02-30", "\x00", "a\x00b", "'; DROP TABLE users; --",
         "<script>alert(1)</script>", "$1e308", "$-5", "1,2,3", "🎟️", "\ud7ff", "true",
         "[]", "{}", "on", "email", "sms", "performer", "venue", "event", "//evil.test",
         "https://evil.test/"]

#: forms whose submission ends the fuzzing session (or the account) instead of testing input
SKIP_ACTIONS = ("/logout", "/account/delete", "/account/billing/portal", "/account/keys/",
                "/account/password", "/account/sessions")


@dataclasses.dataclass
class FormSpec:
    """One ``<form>``: where it posts, how, and the boxes it has (name -> default)."""

    page: str
    method: str
    action: str
    fields: dict[str, str]
    choices: dict[str, list[str]]


class _Forms(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.page, self.forms, self._cur = page, [], None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            action = urljoin(self.page, a.get("action") or self.page)
            self._cur = FormSpec(self.page, (a.get("method") or "get").lower(),
                                 urlsplit(action).path + (f"?{urlsplit(action).query}"
                                                          if urlsplit(action).query else ""),
                                 {}, {})
        elif self._cur is not None and tag in ("input", "textarea", "select", "button"):
            name = a.get("name")
            if not name:
                return
            self._cur.fields.setdefault(name, a.get("value", ""))
            if a.get("type") in ("checkbox", "radio") or tag == "button":
                self._cur.choices.setdefault(name, []).append(a.get("value") or "on")
            if tag == "select":
                self._select = name
        elif tag == "option" and self._cur is not None and self._select:
            self._cur.choices.setdefault(self._select, []).append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        if tag == "form" and self._cur is not None:
            self.forms.append(self._cur)
            self._cur = None


def discover_forms(client: httpx.Client, pages: Iterable[str]) -> list[FormSpec]:
    """Every distinct form (method + action + boxes) on ``pages``, as the client sees them."""
    seen: dict[tuple[str, str, tuple[str, ...]], FormSpec] = {}
    for page in pages:
        r = client.get(page)
        if r.status_code != 200 or "html" not in r.headers.get("content-type", ""):
            continue
        parser = _Forms(page)
        parser.feed(r.text)
        for f in parser.forms:
            if f.action.split("?")[0].startswith(SKIP_ACTIONS):
                continue
            seen.setdefault((f.method, f.action, tuple(sorted(f.fields))), f)
    return list(seen.values())


def _value(name: str, choices: list[str] | None) -> st.SearchStrategy[str]:
    parts: list[st.SearchStrategy[str]] = [
        st.sampled_from(NASTY), st.text(max_size=40),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.times().map(lambda t: t.strftime("%H:%M")),
        st.dates().map(lambda d: d.isoformat())]
    if choices:
        parts.append(st.sampled_from(choices))
    return st.one_of(*parts)


@dataclasses.dataclass
class Tally:
    """What a fuzzing run saw."""

    cases: int = 0
    server_errors: int = 0
    statuses: dict[int, int] = dataclasses.field(default_factory=dict)
    failures: list[str] = dataclasses.field(default_factory=list)

    def add(self, status: int, what: str) -> None:
        self.cases += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500:
            self.server_errors += 1
            if len(self.failures) < 10:
                self.failures.append(f"{status} {what}"[:400])


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(max_examples=examples, deadline=None, derandomize=True,
                               database=None, phases=[hypothesis.Phase.generate],
                               suppress_health_check=list(hypothesis.HealthCheck))


def fuzz_forms(client: httpx.Client, forms: list[FormSpec], csrf: str, examples: int,
               tally: Tally | None = None) -> Tally:
    """Submit each form ``examples`` times with generated boxes (the CSRF token kept)."""
    tally = tally or Tally()
    for form in forms:
        _fuzz_form(client, form, csrf, examples, tally)
    return tally


def _fuzz_form(client: httpx.Client, form: FormSpec, csrf: str, examples: int,
               tally: Tally) -> None:
    required = {"csrf": st.just(csrf)} if "csrf" in form.fields else {}
    boxes = {n: _value(n, form.choices.get(n)) for n in form.fields if n != "csrf"}
    strategy = st.fixed_dictionaries(required, optional=boxes)

    @_settings(examples)
    @hypothesis.given(data=strategy)
    def one(data: dict[str, str]) -> None:
        try:
            if form.method == "post":
                r = client.post(form.action, data=data, follow_redirects=False)
            else:
                r = client.get(form.action, params=data, follow_redirects=False)
        except httpx.HTTPError as exc:  # a dropped connection is a server failure too
            tally.add(599, f"{form.method.upper()} {form.action} {data!r}: {exc!r}")
            return
        tally.add(r.status_code, f"{form.method.upper()} {form.action} {data!r}: "
                                 f"{r.text[:200]}")

    one()


def fuzz_operations(base: str, headers: dict[str, str], examples: int,
                    tally: Tally | None = None) -> tuple[Tally, int]:
    """Generated requests to every operation of the served OpenAPI document (destructive
    account operations left out: they would end the run). Returns (tally, operations)."""
    import schemathesis

    tally = tally or Tally()
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json").exclude(
        method="DELETE", path_regex=r"^/api/v1/(account|api-keys/)")
    ops = [r.ok() for r in schema.get_all_operations()]
    for op in ops:
        _fuzz_operation(base, headers, op, examples, tally)
    return tally, len(ops)


def _fuzz_operation(base: str, headers: dict[str, str], op: Any, examples: int,
                    tally: Tally) -> None:
    @_settings(examples)
    @hypothesis.given(case=op.as_strategy())
    def one(case: Any) -> None:
        try:
            r = case.call(base_url=base, headers=headers, timeout=30)
        except Exception as exc:  # a dropped connection counts as a 5xx too
            tally.add(599, f"{op.label}: {exc!r}")
            return
        tally.add(r.status_code, f"{op.label} {case.path_parameters} {case.query}: "
                                 f"{r.text[:200]}")

    one()


def fuzz_account(client: httpx.Client, event_id: int, inbox: Any) -> dict[str, Any]:
    """Sign up through the API and confirm the address with the link emailed to ``inbox``
    (an SMTP inbox the server sends to), keep the session in ``client`` (cookies), add a
    watchlist entry and an alert rule; returns {"csrf", "headers"} for the fuzzers."""
    email = f"fuzz{uuid.uuid4().hex[:10]}@example.com"
    r = client.post("/api/v1/auth/signup", json={"email": email,
                                                 "password": "correct horse battery staple"})
    r.raise_for_status()
    r = client.post("/api/v1/auth/verify-email",
                    json={"token": emailed_token(inbox, email, "/verify-email")})
    r.raise_for_status()
    csrf = r.json()["csrf_token"]
    key = client.post("/api/v1/api-keys", json={"name": "fuzz"},
                      headers={"X-CSRF-Token": csrf}).json()["key"]
    auth = {"Authorization": f"Bearer {key}"}
    client.post("/api/v1/watchlists", json={"kind": "event", "event_id": event_id},
                headers=auth)
    client.post("/api/v1/alert-rules", json={"kind": "price_at_or_below", "event_id": event_id,
                                             "max_price_cents": 5000}, headers=auth)
    return {"csrf": csrf, "headers": auth}


def dashboard_pages(event_id: int) -> list[str]:
    return ["/", "/deals", f"/events/{event_id}", "/alerts", "/account", "/signup", "/login",
            "/forgot", "/reset-password?token=x", "/setup?token=x", "/purchases", "/webhooks"]


def _baseline(base: str, seconds: float = 2.0) -> float:
    """``GET /healthz`` per second from one client: the cheapest request on this server."""
    n, t0 = 0, time.perf_counter()
    with httpx.Client(base_url=base) as c:
        while time.perf_counter() - t0 < seconds:
            c.get("/healthz")
            n += 1
    return n / (time.perf_counter() - t0)


def _cpu(pid: int) -> float:
    from bench.harness import process_cpu

    user, system = process_cpu(pid)
    return user + system


@contextlib.contextmanager
def _inbox() -> Iterator[Any]:
    """The sandbox's SMTP inbox, where the served app sends the sign-up confirmation."""
    from sandbox.vendors.smtp_inbox import SmtpBox

    box = SmtpBox().start()
    try:
        yield box
    finally:
        box.stop()


@contextlib.contextmanager
def _served(url: str) -> Iterator[tuple[str, int, Any]]:
    """The real app in a uvicorn subprocess, billing pointed at the sandbox's Stripe (so the
    billing operations run instead of answering 503 "not configured")."""
    from bench.api import _serve, _stop
    from bench.harness import free_port
    from sandbox.vendors.stripe_api import FakeStripe

    with FakeStripe() as stripe, _inbox() as inbox:
        env = {**os.environ, "RIPCITY_DATABASE_URL": url, "RIPCITY_LOG_LEVEL": "WARNING",
               "RIPCITY_SMTP_HOST": "127.0.0.1", "RIPCITY_SMTP_PORT": str(inbox.port),
               "PYTHONPATH": os.getcwd(), "STRIPE_API_KEY": stripe.api_key,
               "STRIPE_WEBHOOK_SECRET": stripe.webhook_secret, "STRIPE_API_BASE": stripe.url,
               "STRIPE_PRICE_MONTHLY": "price_premium_monthly",
               "STRIPE_PRICE_ANNUAL": "price_premium_annual"}
        env.pop("RIPCITY_REDIS_URL", None)
        port = free_port()
        proc = _serve("bench.api:bench_app", port, 1, env)
        try:
            yield f"http://127.0.0.1:{port}", proc.pid, inbox
        finally:
            _stop(proc)


def main(argv: list[str] | None = None) -> None:
    from bench.api import fill
    from bench.harness import arguments, emit, scratch_database

    ap = arguments("bench.security_fuzz", __doc__)
    ap.add_argument("--examples", type=int, default=60, help="cases per API operation")
    ap.add_argument("--form-examples", type=int, default=60, help="submissions per form")
    ap.add_argument("--events", type=int, default=12)
    args = ap.parse_args(argv)
    with scratch_database("ripcity_bench_fuzz") as url:
        fill(url, args.events, 100)
        import psycopg

        with psycopg.connect(url) as conn:
            (event_id,) = conn.execute("SELECT min(id) FROM events").fetchone()  # type: ignore[misc]
        with _served(url) as (base, pid, inbox):
            baseline = _baseline(base)
            with httpx.Client(base_url=base, timeout=30) as client:
                who = fuzz_account(client, event_id, inbox)
                cpu0, t0 = _cpu(pid), time.perf_counter()
                # forms first: an operation such as a password change may end the session
                forms = discover_forms(client, dashboard_pages(event_id))
                form_tally = fuzz_forms(client, forms, who["csrf"], args.form_examples)
                ops, n_ops = fuzz_operations(base, who["headers"], args.examples)
                seconds, cpu = time.perf_counter() - t0, _cpu(pid) - cpu0
    cases = ops.cases + form_tally.cases
    rate = cases / seconds if seconds else 0.0
    emit({
        "workload": {"events": args.events, "listings_per_event": 100,
                     "examples_per_operation": args.examples,
                     "examples_per_form": args.form_examples, "server": "uvicorn httptools, "
                     "1 worker, subprocess", "client": "1 connection"},
        "operations": n_ops, "operation_cases": ops.cases, "operation_5xx": ops.server_errors,
        "forms": len(forms), "form_actions": sorted({f"{f.method.upper()} {f.action}"
                                                     for f in forms}),
        "form_cases": form_tally.cases, "form_5xx": form_tally.server_errors,
        "statuses": {str(k): v for k, v in sorted({**_merge(ops, form_tally)}.items())},
        "first_5xx": ops.failures[:5] + form_tally.failures[:5],
        "seconds": round(seconds, 1), "cases_per_second": round(rate, 1),
        "server_cpu_ms_per_case": round(1000 * cpu / cases, 2) if cases else None,
        "baseline_healthz_per_second": round(baseline, 1),
        "ratio_case_cost_in_healthz": round(baseline / rate, 1) if rate else None,
        "peak_client_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    })
    if ops.server_errors or form_tally.server_errors:
        sys.exit(1)


def _merge(a: Tally, b: Tally) -> dict[int, int]:
    out = dict(a.statuses)
    for k, v in b.statuses.items():
        out[k] = out.get(k, 0) + v
    return out


if __name__ == "__main__":
    main()
