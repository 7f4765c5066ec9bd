"""Stripe's wire format, as the local Stripe (``stripe_api``) speaks it: the JSON objects
(``object``, ``id`` prefixes, unix times), error bodies, the bracketed form encoding the
SDK sends, and the webhook signature scheme."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl

API_VERSION = "2026-10-28.endive"
DAY = 86_400
PERIOD = {"month": 30 * DAY, "year": 365 * DAY}


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


def form_bool(value: Any) -> bool:
    """A boolean form field as Stripe reads it."""
    return str(value).lower() in ("true", "1")


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value, computed as Stripe does."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


# -- objects ---------------------------------------------------------------------------------

def price_obj(pid: str, amount: int, interval: str) -> dict[str, Any]:
    return {"id": pid, "object": "price", "active": True, "billing_scheme": "per_unit",
            "currency": "usd", "livemode": False, "lookup_key": None, "metadata": {},
            "product": "prod_ripcity_premium", "type": "recurring", "unit_amount": amount,
            "recurring": {"interval": interval, "interval_count": 1,
                          "usage_type": "licensed"}}


def event_obj(eid: str, type_: str, obj: dict[str, Any], previous: dict[str, Any] | None,
              now: int) -> dict[str, Any]:
    """An event carrying a snapshot of ``obj`` (and what changed, for updates)."""
    data: dict[str, Any] = {"object": json.loads(json.dumps(obj))}
    if previous is not None:
        data["previous_attributes"] = previous
    return {"id": eid, "object": "event", "api_version": API_VERSION, "created": now,
            "data": data, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "type": type_}


def customer_obj(cid: str, form: dict[str, Any], now: int) -> dict[str, Any]:
    return {"id": cid, "object": "customer", "address": None, "balance": 0,
            "created": now, "currency": None, "default_source": None,
            "delinquent": False, "description": form.get("description"),
            "email": form.get("email"), "invoice_prefix": cid[-8:].upper(),
            "livemode": False, "metadata": form.get("metadata") or {},
            "name": form.get("name"), "phone": form.get("phone"),
            "preferred_locales": [], "tax_exempt": "none"}


def checkout_session_obj(sid: str, form: dict[str, Any], price: dict[str, Any],
                         customer: str | None, now: int, base_url: str) -> dict[str, Any]:
    """An open Checkout session; keys starting with ``_`` are ours, never sent."""
    return {
        "id": sid, "object": "checkout.session", "allow_promotion_codes":
        form_bool(form.get("allow_promotion_codes")), "amount_subtotal":
        price["unit_amount"], "amount_total": price["unit_amount"],
        "cancel_url": form.get("cancel_url"),
        "client_reference_id": form.get("client_reference_id"), "created": now,
        "currency": "usd", "customer": customer, "expires_at": now + DAY,
        "livemode": False, "metadata": form.get("metadata") or {}, "mode": form.get("mode"),
        "payment_status": "unpaid", "status": "open", "subscription": None,
        "success_url": form["success_url"].replace("{CHECKOUT_SESSION_ID}", sid),
        "url": f"{base_url}/c/pay/{sid}",
        "_price": price["id"], "_subscription_data": form.get("subscription_data") or {},
    }


def portal_session_obj(pid: str, customer: str, return_url: str | None, now: int,
                       base_url: str) -> dict[str, Any]:
    return {"id": pid, "object": "billing_portal.session", "configuration": "bpc_test",
            "created": now, "customer": customer, "flow": None,
            "livemode": False, "locale": None, "on_behalf_of": None,
            "return_url": return_url, "url": f"{base_url}/p/session/{pid}"}


def subscription_obj(sub_id: str, item_id: str, customer: str, price: dict[str, Any],
                     metadata: dict[str, Any], now: int) -> dict[str, Any]:
    """An active subscription to ``price`` whose first period starts ``now``."""
    period = PERIOD[price["recurring"]["interval"]]
    return {
        "id": sub_id, "object": "subscription", "application": None,
        "billing_cycle_anchor": now, "cancel_at": None, "cancel_at_period_end": False,
        "canceled_at": None, "cancellation_details": {"comment": None, "feedback": None,
                                                      "reason": None},
        "collection_method": "charge_automatically", "created": now, "currency": "usd",
        "customer": customer, "days_until_due": None, "description": None,
        "ended_at": None, "latest_invoice": None, "livemode": False,
        "metadata": metadata, "start_date": now, "status": "active", "trial_end": None,
        "trial_start": None,
        "items": {"object": "list", "has_more": False, "total_count": 1,
                  "url": f"/v1/subscription_items?subscription={sub_id}",
                  "data": [{"id": item_id, "object": "subscription_item",
                            "created": now, "current_period_start": now,
                            "current_period_end": now + period, "metadata": {},
                            "price": price, "quantity": 1,
                            "subscription": sub_id}]},
    }


def invoice_obj(inv_id: str, sub: dict[str, Any], reason: str, paid: bool, now: int,
                base_url: str) -> dict[str, Any]:
    """The invoice of ``sub``'s current period, paid or open."""
    item = sub["items"]["data"][0]
    amount = item["price"]["unit_amount"]
    return {
        "id": inv_id, "object": "invoice", "account_country": "US", "amount_due": amount,
        "amount_paid": amount if paid else 0, "amount_remaining": 0 if paid else amount,
        "attempt_count": 1, "attempted": True, "billing_reason": reason,
        "collection_method": "charge_automatically", "created": now,
        "currency": "usd", "customer": sub["customer"], "livemode": False,
        "hosted_invoice_url": f"{base_url}/invoice/{inv_id}", "metadata": {},
        "next_payment_attempt": None if paid else now + 3 * DAY,
        "parent": {"type": "subscription_details", "quote_details": None,
                   "subscription_details": {"metadata": sub["metadata"],
                                            "subscription": sub["id"]}},
        "period_start": item["current_period_start"],
        "period_end": item["current_period_end"], "status": "paid" if paid else "open",
        "total": amount,
    }


def refunded_charge_obj(ch_id: str, invoice: dict[str, Any], now: int) -> dict[str, Any]:
    return {"id": ch_id, "object": "charge", "amount": invoice["amount_paid"],
            "amount_refunded": invoice["amount_paid"], "currency": "usd",
            "customer": invoice["customer"], "refunded": True, "status": "succeeded",
            "created": now, "livemode": False, "paid": True}


def dispute_obj(dp_id: str, ch_id: str, invoice: dict[str, Any], now: int) -> dict[str, Any]:
    return {"id": dp_id, "object": "dispute", "amount": invoice["amount_paid"],
            "currency": "usd", "charge": ch_id, "customer": invoice["customer"],
            "reason": "fraudulent", "status": "needs_response", "created": now,
            "livemode": False}
