"""Subscriptions: apply Stripe's state to the stored rows, one locked row at a time.

The state machine (:mod:`api.billing.state`) decides; :mod:`storage.billing` writes. Every
function runs inside the caller's transaction and returns the plan changes it caused
(:class:`PlanChange`), so the caller sends emails and drops cached identities only after
the commit. ``users.plan`` is kept in step with the subscriptions as a denormalised copy
for readers that only look at ``users``.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from api.billing.state import (
    TERMINAL,
    SubscriptionSnapshot,
    effective_status,
    grants_premium,
    should_apply,
)
from storage import billing as store

if TYPE_CHECKING:
    from psycopg import AsyncConnection

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class PlanChange:
    """Something a person should hear about, or a cached identity to drop."""

    user_id: int
    kind: str  # upgraded | downgraded | payment_failed | touched
    email: str | None = None
    grace_until: datetime | None = None
    subscription_id: str | None = None


async def _changes(conn: AsyncConnection[Any], user_id: int, sub_id: str,
                   extra: list[PlanChange]) -> list[PlanChange]:
    plan = await store.sync_user_plan(conn, user_id)
    out = list(extra)
    if plan.old != "premium" and plan.new == "premium":
        out.append(PlanChange(user_id, "upgraded", plan.email, subscription_id=sub_id))
    elif plan.old == "premium" and plan.new != "premium" \
            and await store.mark_downgrade_notice(conn, sub_id):
        out.append(PlanChange(user_id, "downgraded", plan.email, subscription_id=sub_id))
    out.append(PlanChange(user_id, "touched", plan.email, subscription_id=sub_id))
    return out


async def apply_snapshot(conn: AsyncConnection[Any], snap: SubscriptionSnapshot,
                         event_at: datetime, now: datetime, grace: timedelta,
                         user_id: int | None = None) -> tuple[str, list[PlanChange]]:
    """Write a subscription's state if it is newer than what is stored.

    Returns ("applied" | "stale" | "unmatched", plan changes).
    """
    row = await store.lock_subscription(conn, snap.id)
    if row is not None and not should_apply(row.stripe_status, row.stripe_event_at,
                                            snap.status, event_at):
        return "stale", []
    owner = (row.user_id if row else None) \
        or await store.user_for_customer(conn, snap.customer) \
        or await store.user_exists(conn, snap.user_id) or await store.user_exists(conn, user_id)
    if owner is None:
        logger.warning("subscription %s of customer %s matches no user; ignored (was the "
                       "customer created outside Rip City?)", snap.id, snap.customer)
        return "unmatched", []
    grace_until = row.grace_until if row else None
    failed_at = row.last_payment_failed_at if row else None
    if snap.status in TERMINAL or (snap.status in ("active", "trialing")
                                   and (failed_at is None or event_at > failed_at)):
        grace_until = None  # ended, or paid up since the last failure
    elif snap.status == "past_due" and grace_until is None:
        grace_until = event_at + grace
    await store.upsert_subscription(conn, store.SubscriptionWrite(
        user_id=owner, customer_id=snap.customer, subscription_id=snap.id,
        price_id=snap.price_id, status=effective_status(snap.status, grace_until, now),
        stripe_status=snap.status, event_at=event_at, interval=snap.interval,
        period_start=snap.current_period_start, period_end=snap.current_period_end,
        cancel_at_period_end=snap.cancel_at_period_end, cancel_at=snap.cancel_at,
        canceled_at=snap.canceled_at, ended_at=snap.ended_at,
        latest_invoice=snap.latest_invoice, grace_until=grace_until))
    return "applied", await _changes(conn, owner, snap.id, [])


async def record_invoice(conn: AsyncConnection[Any], subscription_id: str, invoice_id: str | None,
                         paid: bool, event_at: datetime, now: datetime,
                         grace: timedelta) -> tuple[str, list[PlanChange]]:
    """An invoice of this subscription was paid, or its payment failed.

    A failure opens the grace period (once, from the first failure); a payment made after
    the last failure closes it. Returns ("applied" | "stale" | "missing", plan changes).
    """
    row = await store.lock_subscription(conn, subscription_id)
    if row is None:
        return "missing", []
    extra: list[PlanChange] = []
    grace_until = row.grace_until
    if paid:
        if row.last_paid_at and event_at < row.last_paid_at:
            return "stale", []
        failed = row.last_payment_failed_at
        if failed is None or event_at >= failed:
            grace_until = None
    else:
        paid_at = row.last_paid_at
        if paid_at and (event_at < paid_at or (event_at == paid_at and invoice_id in (
                None, row.last_paid_invoice_id))):
            return "stale", []  # a payment already succeeded after this failure
        if row.stripe_status in TERMINAL:
            return "stale", []
        grace_until = grace_until or event_at + grace
    status = effective_status(row.stripe_status or row.status, grace_until, now)
    await store.record_invoice(conn, row.id, paid=paid, event_at=event_at, invoice_id=invoice_id,
                               grace_until=grace_until, status=status)
    first_failure = not paid and row.grace_notice_sent_at is None
    if first_failure and grace_until is not None and grants_premium(status):
        extra.append(PlanChange(row.user_id, "payment_failed", grace_until=grace_until,
                                subscription_id=subscription_id))
    changes = await _changes(conn, row.user_id, subscription_id, extra)
    email = next((c.email for c in changes if c.email), None)
    return "applied", [dataclasses.replace(c, email=c.email or email) for c in changes]


async def expire_grace(conn: AsyncConnection[Any], now: datetime,
                       user_id: int | None = None) -> list[PlanChange]:
    """Move subscriptions whose grace period ended to 'unpaid' (free); the sweeper's step."""
    changes: list[PlanChange] = []
    for sub_id in await store.grace_ended(conn, now, user_id):
        row = await store.lock_subscription(conn, sub_id)
        if row is None or row.grace_until is None:
            continue
        status = effective_status(row.stripe_status or row.status, row.grace_until, now)
        if grants_premium(status):
            continue
        await store.set_status(conn, row.id, status)
        changes.extend(await _changes(conn, row.user_id, sub_id, []))
    return changes
