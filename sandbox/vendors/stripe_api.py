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
(reordered, duplicated, forged) with :meth:`FakeStripe.deliver`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import queue
import re
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

API_VERSION = "2026-10-28.endive"
DAY = 86_400
_PERIOD = {"month": 30 * DAY, "year": 365 * DAY}


class StripeError(Exception):
    """Rendered as Stripe's error body."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = (
            status, message, type_, code, param)

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            err["param"] = self.param
        return {"error": err}


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding to nested data: ``a[b][0][c]=v`` -> {"a": {"b": [{"c": "v"}]}}."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_index = not last and parts[i + 1].isdigit()
            if isinstance(node, list):
                idx = int(part)
                while len(node) <= idx:
                    node.append(None)
                if last:
                    node[idx] = value
                else:
                    if node[idx] is None:
                        node[idx] = [] if nxt_is_index else {}
                    node = node[idx]
            else:
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, [] if nxt_is_index else {})
    return root


def _bool(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value, computed as Stripe does."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


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
            "price_premium_monthly": self._price("price_premium_monthly", 999, "month"),
            "price_premium_annual": self._price("price_premium_annual", 9_900, "year"),
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

    def _price(self, pid: str, amount: int, interval: str) -> dict[str, Any]:
        return {"id": pid, "object": "price", "active": True, "billing_scheme": "per_unit",
                "currency": "usd", "livemode": False, "lookup_key": None, "metadata": {},
                "product": "prod_ripcity_premium", "type": "recurring", "unit_amount": amount,
                "recurring": {"interval": interval, "interval_count": 1,
                              "usage_type": "licensed"}}

    def _emit(self, type_: str, obj: dict[str, Any],
              previous: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"object": json.loads(json.dumps(obj))}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {"id": self._id("evt"), "object": "event", "api_version": API_VERSION,
                 "created": self.now(), "data": data, "livemode": False,
                 "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
                 "type": type_}
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
            price = self.prices[cs["_price"]]
            now = self.now()
            sub_id, item_id = self._id("sub"), self._id("si")
            period = _PERIOD[price["recurring"]["interval"]]
            sub = {
                "id": sub_id, "object": "subscription", "application": None,
                "billing_cycle_anchor": now, "cancel_at": None, "cancel_at_period_end": False,
                "canceled_at": None, "cancellation_details": {"comment": None, "feedback": None,
                                                              "reason": None},
                "collection_method": "charge_automatically", "created": now, "currency": "usd",
                "customer": cs["customer"], "days_until_due": None, "description": None,
                "ended_at": None, "latest_invoice": None, "livemode": False,
                "metadata": (cs.get("_subscription_data") or {}).get("metadata") or {},
                "start_date": now, "status": "active", "trial_end": None, "trial_start": None,
                "items": {"object": "list", "has_more": False, "total_count": 1,
                          "url": f"/v1/subscription_items?subscription={sub_id}",
                          "data": [{"id": item_id, "object": "subscription_item",
                                    "created": now, "current_period_start": now,
                                    "current_period_end": now + period, "metadata": {},
                                    "price": price, "quantity": 1,
                                    "subscription": sub_id}]},
            }
            self.subscriptions[sub_id] = sub
            invoice = self._invoice(sub, "subscription_create", paid=True)
            cs.update(status="complete", payment_status="paid", subscription=sub_id)
            return [self._emit("customer.subscription.created", sub),
                    self._emit("invoice.paid", invoice),
                    self._emit("checkout.session.completed", self._public(cs))]

    def _invoice(self, sub: dict[str, Any], reason: str, paid: bool) -> dict[str, Any]:
        item = sub["items"]["data"][0]
        amount = item["price"]["unit_amount"]
        inv_id = self._id("in")
        invoice = {
            "id": inv_id, "object": "invoice", "account_country": "US", "amount_due": amount,
            "amount_paid": amount if paid else 0, "amount_remaining": 0 if paid else amount,
            "attempt_count": 1, "attempted": True, "billing_reason": reason,
            "collection_method": "charge_automatically", "created": self.now(),
            "currency": "usd", "customer": sub["customer"], "livemode": False,
            "hosted_invoice_url": f"{self.url}/invoice/{inv_id}", "metadata": {},
            "next_payment_attempt": None if paid else self.now() + 3 * DAY,
            "parent": {"type": "subscription_details", "quote_details": None,
                       "subscription_details": {"metadata": sub["metadata"],
                                                "subscription": sub["id"]}},
            "period_start": item["current_period_start"],
            "period_end": item["current_period_end"], "status": "paid" if paid else "open",
            "total": amount,
        }
        self.invoices[inv_id] = invoice
        sub["latest_invoice"] = inv_id
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
            period = _PERIOD[item["price"]["recurring"]["interval"]]
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
            charge = {"id": self._id("ch"), "object": "charge", "amount": invoice["amount_paid"],
                      "amount_refunded": invoice["amount_paid"], "currency": "usd",
                      "customer": sub["customer"], "refunded": True, "status": "succeeded",
                      "created": self.now(), "livemode": False, "paid": True}
            return self._emit("charge.refunded", charge)

    def dispute(self, subscription_id: str) -> dict[str, Any]:
        """The cardholder disputes the latest charge."""
        with self.lock:
            sub = self.subscriptions[subscription_id]
            invoice = self.invoices[sub["latest_invoice"]]
            dispute = {"id": self._id("dp"), "object": "dispute",
                       "amount": invoice["amount_paid"], "currency": "usd",
                       "charge": self._id("ch"), "customer": sub["customer"],
                       "reason": "fraudulent", "status": "needs_response",
                       "created": self.now(), "livemode": False}
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
        cid = self._id("cus")
        customer = {"id": cid, "object": "customer", "address": None, "balance": 0,
                    "created": self.now(), "currency": None, "default_source": None,
                    "delinquent": False, "description": form.get("description"),
                    "email": form.get("email"), "invoice_prefix": cid[-8:].upper(),
                    "livemode": False, "metadata": form.get("metadata") or {},
                    "name": form.get("name"), "phone": form.get("phone"),
                    "preferred_locales": [], "tax_exempt": "none"}
        self.customers[cid] = customer
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
        now = self.now()
        session = {
            "id": sid, "object": "checkout.session", "allow_promotion_codes":
            _bool(form.get("allow_promotion_codes")), "amount_subtotal":
            self.prices[price_id]["unit_amount"], "amount_total":
            self.prices[price_id]["unit_amount"], "cancel_url": form.get("cancel_url"),
            "client_reference_id": form.get("client_reference_id"), "created": now,
            "currency": "usd", "customer": customer, "expires_at": now + DAY,
            "livemode": False, "metadata": form.get("metadata") or {}, "mode": mode,
            "payment_status": "unpaid", "status": "open", "subscription": None,
            "success_url": form["success_url"].replace("{CHECKOUT_SESSION_ID}", sid),
            "url": f"{self.url}/c/pay/{sid}",
            "_price": price_id, "_subscription_data": form.get("subscription_data") or {},
        }
        self.sessions[sid] = session
        return self._public(session)

    def _create_portal(self, form: dict[str, Any]) -> dict[str, Any]:
        customer = form.get("customer")
        if not customer:
            raise StripeError(400, "Missing required param: customer.",
                              code="parameter_missing", param="customer")
        self._get(self.customers, customer, "customer", "customer")
        pid = self._id("bps")
        session = {"id": pid, "object": "billing_portal.session", "configuration": "bpc_test",
                   "created": self.now(), "customer": customer, "flow": None,
                   "livemode": False, "locale": None, "on_behalf_of": None,
                   "return_url": form.get("return_url"),
                   "url": f"{self.url}/p/session/{pid}"}
        self.portal_sessions[pid] = session
        return session

    def _update_subscription(self, sub: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
        if sub["status"] == "canceled":
            raise StripeError(400, "A canceled subscription can only update its "
                              "cancellation_details and metadata.", param="cancel_at_period_end")
        previous: dict[str, Any] = {}
        if "cancel_at_period_end" in form:
            cape = _bool(form["cancel_at_period_end"])
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


@contextlib.contextmanager
def running(**kwargs: Any) -> Iterator[FakeStripe]:
    """A started :class:`FakeStripe` (stopped on exit)."""
    with FakeStripe(**kwargs) as fake:
        yield fake
