"""The subscription state machine: pure functions, no I/O.

Stripe may deliver events late, twice or out of order, so a subscription row only moves
forward: an event is applied when it is newer than the last one applied (its ``created``
time), a tie is broken by how far along the lifecycle each status is, and an ended
subscription never comes back. What a user may do follows from the *effective* status:
Stripe's status, except that an invoice left unpaid past the grace period means 'unpaid'.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from storage.billing import PREMIUM_STATUSES

#: Statuses a subscription never leaves.
TERMINAL = frozenset({"canceled", "incomplete_expired"})
#: Lifecycle order, used only to break ties between events created in the same second.
_RANK = {"incomplete": 0, "trialing": 1, "active": 2, "past_due": 3, "paused": 3,
         "unpaid": 4, "canceled": 5, "incomplete_expired": 5}
#: Statuses whose access a missed payment can take away after the grace period.
_GRACEABLE = frozenset({"active", "trialing", "past_due"})


def ts(value: Any) -> datetime | None:
    """A Stripe unix timestamp (or None) as an aware datetime."""
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriptionSnapshot:
    """The fields we keep from a Stripe ``subscription`` object."""

    id: str
    customer: str | None
    status: str
    price_id: str | None
    interval: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    cancel_at: datetime | None
    canceled_at: datetime | None
    ended_at: datetime | None
    latest_invoice: str | None
    user_id: int | None

    @classmethod
    def from_stripe(cls, obj: dict[str, Any]) -> SubscriptionSnapshot:
        """Read a subscription object of any recent API version (the billing period moved
        from the subscription onto its items in 2025-03-31.basil)."""
        items = ((obj.get("items") or {}).get("data") or [{}])
        item = items[0] or {}
        price = item.get("price") or item.get("plan") or {}
        if isinstance(price, str):
            price = {"id": price}
        recurring = price.get("recurring") or {}
        interval = recurring.get("interval") or price.get("interval")
        customer = obj.get("customer")
        if isinstance(customer, dict):
            customer = customer.get("id")
        invoice = obj.get("latest_invoice")
        if isinstance(invoice, dict):
            invoice = invoice.get("id")
        meta = obj.get("metadata") or {}
        user_id = meta.get("ripcity_user_id")
        return cls(
            id=str(obj["id"]), customer=customer, status=str(obj.get("status") or "incomplete"),
            price_id=price.get("id"), interval=interval,
            current_period_start=ts(obj.get("current_period_start")
                                    or item.get("current_period_start")),
            current_period_end=ts(obj.get("current_period_end")
                                  or item.get("current_period_end")),
            cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
            cancel_at=ts(obj.get("cancel_at")), canceled_at=ts(obj.get("canceled_at")),
            ended_at=ts(obj.get("ended_at")), latest_invoice=invoice,
            user_id=int(user_id) if str(user_id or "").isdigit() else None,
        )


def should_apply(stored_status: str | None, stored_at: datetime | None, incoming_status: str,
                 incoming_at: datetime) -> bool:
    """Whether an event created at ``incoming_at`` may overwrite the stored state."""
    if stored_status is None or stored_at is None:
        return True
    if stored_status in TERMINAL and incoming_status not in TERMINAL:
        return False  # an ended subscription never comes back; a late update is stale
    if incoming_at != stored_at:
        return incoming_at > stored_at
    return _RANK.get(incoming_status, 0) >= _RANK.get(stored_status, 0)


def effective_status(stripe_status: str, grace_until: datetime | None, now: datetime) -> str:
    """The status the product acts on: Stripe's, or 'unpaid' once the grace period is over."""
    if grace_until is not None and grace_until <= now and stripe_status in _GRACEABLE:
        return "unpaid"
    return stripe_status


def grants_premium(status: str | None) -> bool:
    """Whether an effective status gives the premium plan (``PREMIUM_STATUSES``)."""
    return status in PREMIUM_STATUSES


def invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """The subscription an invoice bills (top-level before basil, under ``parent`` since)."""
    sub = invoice.get("subscription")
    if sub is None:
        details = ((invoice.get("parent") or {}).get("subscription_details") or {})
        sub = details.get("subscription")
    if isinstance(sub, dict):
        sub = sub.get("id")
    return sub
