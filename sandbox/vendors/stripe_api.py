"""A local Stripe: the REST calls Rip City makes, in Stripe's wire format, on 127.0.0.1.

Stripe cannot be reached from the test machine, so the official SDK is pointed at this
server (``STRIPE_API_BASE`` / ``base_addresses``). It speaks what the SDK sends and reads:
form-encoded bodies with bracketed keys (``line_items[0][price]``), bearer-key auth,
``Idempotency-Key`` replay, Stripe JSON objects (``object``, ``id`` prefixes, unix times)
and Stripe error bodies (``{"error": {"type", "code", "message", "param"}}``).

Served: customers create/retrieve, checkout.sessions create/retrieve, billing_portal.sessions
create, subscriptions retrieve/update/cancel. Customer actions that happen on Stripe's own
pages or clock (paying at Checkout, a renewal, a failed charge, the period ending, a refund
or dispute) are methods on :class:`FakeStripe`. Each produces the events real Stripe sends,
signed with the real scheme (``t=<unix>,v1=<HMAC-SHA256(secret, "t.payload")>``) and posted
in order to ``webhook_url`` by one delivery thread; or kept for the test to deliver itself
(reordered, duplicated, forged) with :meth:`FakeStripe.deliver`. The objects, error bodies,
form decoding and signatures are Stripe's wire format, in ``stripe_objects``.
"""

from __future__ import annotations

import json
import queue
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

from sandbox.vendors.stripe_objects import (
    API_VERSION,
    PERIOD,
    StripeError,
    checkout_session_obj,
    customer_obj,
    decode_form,
    dispute_obj,
    event_obj,
    form_bool,
    invoice_obj,
    portal_session_obj,
    price_obj,
    refunded_charge_obj,
    sign,
    subscription_obj,
)


class FakeStripe:
    """Stripe's state for one test, served over HTTP.

    Args:
        api_key: the secret key the SDK must send.
        webhook_secret: signs the events.
        webhook_url: where events are posted (None: only recorded, see ``pending``).
    """

    def __init__(self, api_key: str = "sk_test_ripcity", webhook_secret: str = "whsec_ripcity",
                 webhook_url: str | None = None) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.clock_offset = 0
        self.lock = threading.RLock()
        self.customers: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        #: (event id, HTTP status, response body) per delivery attempt
        self.deliveries: list[tuple[str, int, str]] = []
        #: API requests seen: (method, path)
        self.requests: list[tuple[str, str]] = []
        self._idempotent: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self.prices = {
            "price_premium_monthly": price_obj("price_premium_monthly", 999, "month"),
            "price_premium_annual": price_obj("price_premium_annual", 9_900, "year"),
        }
        self._outbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self.url = ""

    # --- lifecycle --------------------------------------------------------------------
    def __enter__(self) -> FakeStripe:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        for target in (self._server.serve_forever, self._deliver_loop):
            t = threading.Thread(target=target, daemon=True, name=f"fake-stripe-{target.__name__}")
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._outbox.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for t in self._threads:
            t.join(timeout=5)

    # --- helpers ----------------------------------------------------------------------
    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def advance(self, seconds: int) -> None:
        """Move Stripe's clock (event ``created`` times, periods); signatures use real time."""
        self.clock_offset += seconds

    @staticmethod
    def _id(prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _emit(self, type_: str, obj: dict[str, Any],
              previous: dict[str, Any] | None = None) -> dict[str, Any]:
        event = event_obj(self._id("evt"), type_, obj, previous, self.now())
        self.events.append(event)
        if self.webhook_url:
            self._outbox.put(event)
        return event

    # --- webhook delivery -------------------------------------------------------------
    def payload(self, event: dict[str, Any]) -> bytes:
        return json.dumps(event, indent=2).encode()

    def deliver(self, event: dict[str, Any], *, url: str | None = None,
                secret: str | None = None, timestamp: int | None = None,
                body: bytes | None = None, signature: str | None = None) -> httpx.Response:
        """POST one event as Stripe does (tests may forge any part of it)."""
        raw = body if body is not None else self.payload(event)
        header = signature if signature is not None else sign(
            raw, secret or self.webhook_secret, timestamp)
        resp = httpx.post(url or self.webhook_url or "", content=raw, timeout=30, headers={
            "Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
        self.deliveries.append((str(event.get("id")), resp.status_code, resp.text))
        return resp

    def _deliver_loop(self) -> None:
        while True:
            event = self._outbox.get()
            try:
                if event is None:
                    return
                try:
                    self.deliver(event)
                except httpx.HTTPError as err:
                    self.deliveries.append((event["id"], 0, str(err)))
            finally:
                self._outbox.task_done()

    def flush(self) -> None:
        """Wait until every event so far has been delivered."""
        self._outbox.join()

    # --- customer actions on Stripe's side --------------------------------------------
    def complete_checkout(self, session_id: str) -> list[dict[str, Any]]:
        """The customer pays on the hosted page: subscription, first invoice, completion."""
        with self.lock:
            cs = self.sessions[session_id]
            if cs["status"] != "open":
                raise StripeError(400, f"Checkout session {session_id} is {cs['status']}")
            metadata = (cs.get("_subscription_data") or {}).get("metadata") or {}
            sub = subscription_obj(self._id("sub"), self._id("si"), cs["customer"],
                                   self.prices[cs["_price"]], metadata, self.now())
            self.subscriptions[sub["id"]] = sub
            invoice = self._invoice(sub, "subscription_create", paid=True)
            cs.update(status="complete", payment_status="paid", subscription=sub["id"])
            return [self._emit("customer.subscription.created", sub),
                    self._emit("invoice.paid", invoice),
                    self._emit("checkout.session.completed", self._public(cs))]

    def _invoice(self, sub: dict[str, Any], reason: str, paid: bool) -> dict[str, Any]:
        invoice = invoice_obj(self._id("in"), sub, reason, paid, self.now(), self.url)
        self.invoices[invoice["id"]] = invoice
        sub["latest_invoice"] = invoice["id"]
        return invoice

    def _set_status(self, sub: dict[str, Any], status: str) -> dict[str, Any] | None:
        if sub["status"] == status:
            return None
        previous = {"status": sub["status"]}
        sub["status"] = status
        return self._emit("customer.subscription.updated", sub, previous)

    def fail_payment(self, subscription_id: str) -> list[dict[str, Any]]:
        """The renewal charge is declined: an open invoice, the subscription past_due."""
        with self.lock:
            sub = self.subscriptions[subscription_id]
            invoice = self._invoice(sub, "subscription_cycle", paid=False)
            events = [self._emit("invoice.payment_failed", invoice)]
            updated = self._set_status(sub, "past_due")
            return events + ([updated] if updated else [])

    def pay_invoice(self, subscription_id: str) -> list[dict[str, Any]]:
        """A retry (or a new card) pays the open invoice: active again."""
        with self.lock:
            sub = self.subscriptions[subscription_id]
            invoice = self.invoices[sub["latest_invoice"]]
            invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0,
                           attempt_count=invoice["attempt_count"] + 1)
            events = [self._emit("invoice.paid", invoice)]
            updated = self._set_status(sub, "active")
            return events + ([updated] if updated else [])

    def end_period(self, subscription_id: str) -> list[dict[str, Any]]:
        """Stripe's clock reaches the period end: renew, or end a subscription set to
        cancel at period end."""
        with self.lock:
            sub = self.subscriptions[subscription_id]
            item = sub["items"]["data"][0]
            self.clock_offset = max(self.clock_offset,
                                    item["current_period_end"] - int(time.time()) + 1)
            if sub["cancel_at_period_end"]:
                return [self._end(sub, "cancellation_requested")]
            period = PERIOD[item["price"]["recurring"]["interval"]]
            previous = {"items": json.loads(json.dumps(sub["items"]))}
            item["current_period_start"] = item["current_period_end"]
            item["current_period_end"] += period
            invoice = self._invoice(sub, "subscription_cycle", paid=True)
            return [self._emit("customer.subscription.updated", sub, previous),
                    self._emit("invoice.paid", invoice)]

    def _end(self, sub: dict[str, Any], reason: str) -> dict[str, Any]:
        now = self.now()
        sub.update(status="canceled", ended_at=now, canceled_at=sub["canceled_at"] or now)
        sub["cancellation_details"]["reason"] = reason
        return self._emit("customer.subscription.deleted", sub)

    def refund(self, subscription_id: str) -> dict[str, Any]:
        """Support refunds the latest invoice's charge."""
        with self.lock:
            sub = self.subscriptions[subscription_id]
            invoice = self.invoices[sub["latest_invoice"]]
            charge = refunded_charge_obj(self._id("ch"), invoice, self.now())
            return self._emit("charge.refunded", charge)

    def dispute(self, subscription_id: str) -> dict[str, Any]:
        """The cardholder disputes the latest charge."""
        with self.lock:
            sub = self.subscriptions[subscription_id]
            invoice = self.invoices[sub["latest_invoice"]]
            dispute = dispute_obj(self._id("dp"), self._id("ch"), invoice, self.now())
            return self._emit("charge.dispute.created", dispute)

    # --- the REST API -----------------------------------------------------------------
    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _get(self, table: dict[str, dict[str, Any]], oid: str, kind: str,
             param: str = "id") -> dict[str, Any]:
        if oid not in table:
            raise StripeError(404, f"No such {kind}: '{oid}'", code="resource_missing",
                              param=param)
        return table[oid]

    def handle(self, method: str, path: str, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Route one authenticated API call; returns (status, JSON body)."""
        with self.lock:
            self.requests.append((method, path))
            parts = path.strip("/").split("/")
            if method == "POST" and path == "/v1/customers":
                return 200, self._create_customer(form)
            if method == "GET" and parts[:2] == ["v1", "customers"] and len(parts) == 3:
                return 200, self._get(self.customers, parts[2], "customer")
            if method == "POST" and path == "/v1/checkout/sessions":
                return 200, self._create_session(form)
            if method == "GET" and parts[:3] == ["v1", "checkout", "sessions"] \
                    and len(parts) == 4:
                return 200, self._public(self._get(self.sessions, parts[3], "checkout.session"))
            if method == "POST" and path == "/v1/billing_portal/sessions":
                return 200, self._create_portal(form)
            if parts[:2] == ["v1", "subscriptions"] and len(parts) == 3:
                sub = self._get(self.subscriptions, parts[2], "subscription")
                if method == "GET":
                    return 200, sub
                if method == "POST":
                    return 200, self._update_subscription(sub, form)
                if method == "DELETE":
                    if sub["status"] == "canceled":
                        raise StripeError(400, f"This subscription is already canceled: "
                                          f"'{sub['id']}'", code="resource_missing")
                    self._end(sub, "cancellation_requested")
                    return 200, sub
            raise StripeError(404, f"Unrecognized request URL ({method}: {path}). Please see "
                              "https://stripe.com/docs or we can help at "
                              "https://support.stripe.com/.")

    def _create_customer(self, form: dict[str, Any]) -> dict[str, Any]:
        customer = customer_obj(self._id("cus"), form, self.now())
        self.customers[customer["id"]] = customer
        return customer

    def _create_session(self, form: dict[str, Any]) -> dict[str, Any]:
        mode = form.get("mode")
        if mode not in ("payment", "setup", "subscription"):
            raise StripeError(400, "Missing required param: mode.", code="parameter_missing",
                              param="mode")
        items = form.get("line_items") or []
        if mode == "subscription" and not items:
            raise StripeError(400, "You must provide at least one recurring price in "
                              "`subscription` mode when using prices.", param="line_items")
        price_id = (items[0] or {}).get("price") if items else None
        if price_id not in self.prices:
            raise StripeError(400, f"No such price: '{price_id}'", code="resource_missing",
                              param="line_items[0][price]")
        customer = form.get("customer")
        if customer is not None:
            self._get(self.customers, customer, "customer", "customer")
        if not form.get("success_url"):
            raise StripeError(400, "Missing required param: success_url.",
                              code="parameter_missing", param="success_url")
        sid = f"cs_test_{secrets.token_hex(24)}"
        session = checkout_session_obj(sid, form, self.prices[price_id], customer, self.now(),
                                       self.url)
        self.sessions[sid] = session
        return self._public(session)

    def _create_portal(self, form: dict[str, Any]) -> dict[str, Any]:
        customer = form.get("customer")
        if not customer:
            raise StripeError(400, "Missing required param: customer.",
                              code="parameter_missing", param="customer")
        self._get(self.customers, customer, "customer", "customer")
        session = portal_session_obj(self._id("bps"), customer, form.get("return_url"),
                                     self.now(), self.url)
        self.portal_sessions[session["id"]] = session
        return session

    def _update_subscription(self, sub: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
        if sub["status"] == "canceled":
            raise StripeError(400, "A canceled subscription can only update its "
                              "cancellation_details and metadata.", param="cancel_at_period_end")
        previous: dict[str, Any] = {}
        if "cancel_at_period_end" in form:
            cape = form_bool(form["cancel_at_period_end"])
            if cape != sub["cancel_at_period_end"]:
                previous.update(cancel_at_period_end=sub["cancel_at_period_end"],
                                cancel_at=sub["cancel_at"], canceled_at=sub["canceled_at"])
                end = sub["items"]["data"][0]["current_period_end"]
                sub.update(cancel_at_period_end=cape, cancel_at=end if cape else None,
                           canceled_at=self.now() if cape else None)
        if isinstance(form.get("metadata"), dict):
            previous["metadata"] = dict(sub["metadata"])
            sub["metadata"].update(form["metadata"])
        if previous:
            self._emit("customer.subscription.updated", sub, previous)
        return sub

    # --- the hosted pages (what a browser would see) ---------------------------------
    def hosted(self, path: str) -> tuple[int, str, str | None]:
        """(status, html, redirect) for Checkout and portal pages."""
        m = re.fullmatch(r"/c/pay/(cs_test_\w+)", path)
        if m and m.group(1) in self.sessions:
            self.complete_checkout(m.group(1))
            return 303, "", self.sessions[m.group(1)]["success_url"]
        m = re.fullmatch(r"/p/session/(bps_\w+)", path)
        if m and m.group(1) in self.portal_sessions:
            return 200, "<html><body><h1>Customer portal (test)</h1></body></html>", None
        return 404, "<html><body>Not found</body></html>", None


def _handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: bytes, ctype: str,
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _api(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            path = urlsplit(self.path).path
            if not path.startswith("/v1/"):
                status, html, location = fake.hosted(path)
                self._send(status, html.encode(), "text/html; charset=utf-8",
                           {"Location": location} if location else None)
                return
            request_id = f"req_{secrets.token_hex(7)}"
            headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
            auth = self.headers.get("Authorization", "")
            if auth != f"Bearer {fake.api_key}":
                shown = auth.removeprefix("Bearer ")[:12]
                err = StripeError(401, f"Invalid API Key provided: {shown}***",
                                  code="api_key_invalid")
                self._send(401, json.dumps(err.body()).encode(), "application/json", headers)
                return
            key = self.headers.get("Idempotency-Key")
            cache_key = (self.command + " " + path, key or "")
            if key and cache_key in fake._idempotent:
                status, body = fake._idempotent[cache_key]
                headers["Idempotent-Replayed"] = "true"
            else:
                try:
                    status, body = fake.handle(self.command, path, decode_form(raw))
                except StripeError as err:
                    status, body = err.status, err.body()
                    body["error"]["request_log_url"] = \
                        f"https://dashboard.stripe.com/test/logs/{request_id}"
                if key:
                    fake._idempotent[cache_key] = (status, body)
            self._send(status, json.dumps(body).encode(), "application/json", headers)

        do_GET = do_POST = do_DELETE = _api

    return Handler

