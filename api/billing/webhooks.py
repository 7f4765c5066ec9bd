"""Stripe webhooks: verify the signature, process each event once, in any order.

Verification is the SDK's (``stripe.Webhook.construct_event``: HMAC-SHA256 of
``"{t}.{payload}"`` with the endpoint secret, timestamp within a tolerance for clock skew).
Anything forged, replayed outside the tolerance or malformed raises :class:`WebhookRejected`
(400, with the reason) before the database is touched.

Each event id is recorded in the ledger (``stripe_events``, :mod:`storage.billing`); the
row is locked while the event is applied and marked processed in the same transaction, so
a retry or duplicate delivery is answered without being applied twice. Ordering is the
subscription state machine's job (:mod:`api.billing.state`): the event's own ``created``
time and the subscription's status decide, never the arrival order.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import stripe

from api.billing import subscriptions as subs
from api.billing.state import SubscriptionSnapshot, invoice_subscription, ts
from api.lib.errors import ApiError
from storage import billing as store

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    from api.billing.subscriptions import PlanChange
    from api.settings import AppSettings

logger = logging.getLogger(__name__)

#: Seconds a signature's timestamp may differ from our clock (the SDK's default).
TOLERANCE = 300

_SUBSCRIPTION_EVENTS = frozenset({
    "customer.subscription.created", "customer.subscription.updated",
    "customer.subscription.deleted", "customer.subscription.paused",
    "customer.subscription.resumed", "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired", "customer.subscription.trial_will_end",
})
_INCIDENT_EVENTS = {
    "charge.refunded": "refund", "charge.refund.updated": "refund", "refund.created": "refund",
    "refund.updated": "refund", "refund.failed": "refund",
    "charge.dispute.created": "dispute", "charge.dispute.updated": "dispute",
    "charge.dispute.closed": "dispute", "charge.dispute.funds_withdrawn": "dispute",
    "charge.dispute.funds_reinstated": "dispute",
}


class WebhookRejected(ApiError):
    """A webhook we will not act on; ``detail`` says why (Stripe shows it to the operator)."""

    status_code, slug, title = 400, "invalid-webhook", "Webhook rejected"


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What processing one delivery did."""

    event_id: str
    type: str
    outcome: str  # applied | stale | ignored | logged | unmatched | missing | duplicate
    changes: list[PlanChange] = dataclasses.field(default_factory=list)

    @property
    def duplicate(self) -> bool:
        return self.outcome == "duplicate"


def _not_from_the_future(sig_header: str, tolerance: int) -> None:
    """The SDK only refuses old timestamps; one ahead of our clock by more than the same
    tolerance is refused too (a signature minted for later replay, or a broken clock)."""
    stamps = [int(v) for k, _, v in (p.partition("=") for p in sig_header.split(","))
              if k.strip() == "t" and v.strip().isdigit()]
    ahead = (stamps[0] - time.time()) if stamps else 0
    if ahead > tolerance:
        raise WebhookRejected(f"Stripe-Signature check failed: the timestamp is {ahead:.0f} s "
                              f"in the future (more than the {tolerance} s tolerance), so the "
                              "sender's clock is wrong or the signature was made for later.")


def verify(payload: bytes, sig_header: str | None, secret: str,
           tolerance: int = TOLERANCE) -> dict[str, Any]:
    """The verified event as plain JSON data; :class:`WebhookRejected` otherwise."""
    if not sig_header:
        raise WebhookRejected("Missing Stripe-Signature header: webhooks must come from Stripe, "
                              "signed with this endpoint's secret.")
    try:
        stripe.Webhook.construct_event(payload, sig_header, secret, tolerance)
    except stripe.SignatureVerificationError as err:
        reason = str(err.user_message or err)
        if "tolerance" in reason:
            reason += (f": the signature is older than {tolerance} s, so this is a replay or "
                       "the sender's clock is wrong")
        raise WebhookRejected(f"Stripe-Signature check failed: {reason}. Check that "
                              "STRIPE_WEBHOOK_SECRET is this endpoint's signing secret.") \
            from None
    except ValueError as err:
        raise WebhookRejected(f"The webhook body is not a Stripe event (invalid JSON: {err}).") \
            from None
    except (TypeError, KeyError, AttributeError):
        raise WebhookRejected("The webhook body is not a Stripe event: expected a JSON object "
                              "with id, type, created and data.object.") from None
    _not_from_the_future(sig_header, tolerance)
    event = json.loads(payload)
    problems = [name for name, kind in (("id", str), ("type", str), ("created", int))
                if not isinstance(event.get(name), kind)]
    if not isinstance((event.get("data") or {}).get("object"), dict):
        problems.append("data.object")
    if problems:
        raise WebhookRejected("The webhook body is not a Stripe event: missing or invalid "
                              f"{', '.join(problems)}.")
    return dict(event)


@dataclasses.dataclass(slots=True)
class _Context:
    conn: AsyncConnection[Any]
    client: Callable[[], stripe.StripeClient]
    event_id: str
    event_type: str
    event_at: datetime
    now: datetime
    grace: timedelta


_Handler = Callable[[_Context, dict[str, Any]], Awaitable[tuple[str, list["PlanChange"]]]]


async def _fetch_subscription(ctx: _Context, sub_id: str) -> tuple[str, list[PlanChange]]:
    """Read a subscription from Stripe and apply it (stamped with the event's time)."""
    obj = await ctx.client().v1.subscriptions.retrieve_async(sub_id)
    snap = SubscriptionSnapshot.from_stripe(obj.to_dict())
    return await subs.apply_snapshot(ctx.conn, snap, ctx.event_at, ctx.now, ctx.grace)


async def _on_subscription(ctx: _Context, obj: dict[str, Any]) -> tuple[str, list[PlanChange]]:
    snap = SubscriptionSnapshot.from_stripe(obj)
    return await subs.apply_snapshot(ctx.conn, snap, ctx.event_at, ctx.now, ctx.grace)


async def _on_checkout(ctx: _Context, obj: dict[str, Any]) -> tuple[str, list[PlanChange]]:
    if obj.get("mode") != "subscription" or not obj.get("subscription"):
        return "ignored", []
    ref = str(obj.get("client_reference_id") or "")
    customer = obj.get("customer")
    if ref.isdigit() and customer:  # link a customer made outside ensure_customer
        await store.link_customer(ctx.conn, int(ref), customer)
    sub = obj["subscription"]
    sub_id = sub.get("id") if isinstance(sub, dict) else str(sub)
    return await _fetch_subscription(ctx, sub_id)


async def _on_invoice(ctx: _Context, obj: dict[str, Any]) -> tuple[str, list[PlanChange]]:
    sub_id = invoice_subscription(obj)
    if not sub_id:
        return "ignored", []  # a one-off invoice: nothing to do with the plan
    paid = ctx.event_type in ("invoice.paid", "invoice.payment_succeeded")
    args = (ctx.conn, sub_id, obj.get("id"), paid, ctx.event_at, ctx.now, ctx.grace)
    outcome, changes = await subs.record_invoice(*args)
    if outcome == "missing":  # the invoice came before any subscription event
        fetched, first = await _fetch_subscription(ctx, sub_id)
        if fetched != "applied":
            return fetched, first
        outcome, changes = await subs.record_invoice(*args)
        changes = first + changes
    return outcome, changes


async def _on_incident(ctx: _Context, obj: dict[str, Any]) -> tuple[str, list[PlanChange]]:
    kind = _INCIDENT_EVENTS[ctx.event_type]
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    user_id = await store.user_for_customer(ctx.conn, customer)
    amount = obj.get("amount_refunded") if ctx.event_type == "charge.refunded" \
        else obj.get("amount")
    await store.record_incident(ctx.conn, store.Incident(
        stripe_event_id=ctx.event_id, kind=kind, event_type=ctx.event_type, user_id=user_id,
        stripe_customer_id=customer, object_id=obj.get("id"), amount_cents=amount,
        currency=obj.get("currency"), reason=obj.get("reason"), status=obj.get("status"),
        occurred_at=ctx.event_at))
    logger.warning("Stripe %s %s: %s %s %s for user %s (customer %s, reason %s)",
                   kind, ctx.event_type, obj.get("id"), amount, obj.get("currency"), user_id,
                   customer, obj.get("reason"))
    return "logged", []


def _handler(event_type: str) -> _Handler | None:
    if event_type in _SUBSCRIPTION_EVENTS:
        return _on_subscription
    if event_type == "checkout.session.completed":
        return _on_checkout
    if event_type in ("invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed"):
        return _on_invoice
    if event_type in _INCIDENT_EVENTS:
        return _on_incident
    return None


async def process_event(pool: AsyncConnectionPool, settings: AppSettings,
                        client: Callable[[], stripe.StripeClient], event: dict[str, Any],
                        now: datetime | None = None) -> Outcome:
    """Apply one verified event exactly once; raise (for a 5xx and Stripe's retry) on failure.

    Args:
        pool: the API's connection pool.
        settings: for the grace period.
        client: returns the Stripe client, for the few events that need a read from Stripe.
        event: the verified event (:func:`verify`).
        now: the clock (tests pass one).
    """
    event_id, event_type = event["id"], event["type"]
    ctx_now = now or datetime.now(UTC)
    event_at = ts(event["created"]) or ctx_now
    handler = _handler(event_type)
    try:
        async with pool.connection() as conn, conn.transaction():
            if not await store.claim_event(conn, event, event_at):
                return Outcome(event_id, event_type, "duplicate")
            if handler is None:
                outcome, changes = "ignored", []
            else:
                ctx = _Context(conn, client, event_id, event_type, event_at, ctx_now,
                               timedelta(days=settings.billing_grace_days))
                outcome, changes = await handler(ctx, event["data"]["object"])
            await store.finish_event(conn, event_id, outcome)
    except Exception as err:
        await _record_failure(pool, event, event_at, err)
        raise
    logger.info("stripe event %s %s: %s", event_id, event_type, outcome)
    return Outcome(event_id, event_type, outcome, changes)


async def _record_failure(pool: AsyncConnectionPool, event: dict[str, Any], event_at: datetime,
                          err: Exception) -> None:
    """Keep the failed event and why, so Stripe's retry (and a person) can see it."""
    logger.exception("stripe event %s %s failed; Stripe will retry it", event["id"],
                     event["type"])
    try:
        async with pool.connection() as conn:
            await store.record_event_failure(conn, event, event_at, f"{type(err).__name__}: {err}")
    except Exception:  # the database itself may be why we failed
        logger.exception("could not record the failure of stripe event %s", event["id"])
