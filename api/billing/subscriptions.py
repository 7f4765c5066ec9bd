"""Subscription rows: apply Stripe's state to the database, one locked row at a time.

Every function runs inside the caller's transaction and returns the plan changes it caused
(:class:`PlanChange`), so the caller sends emails and drops cached identities only after
the commit. ``users.plan`` is kept in step with the subscriptions as a denormalised copy
for readers that only look at ``users``.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

from api.billing.state import (
    TERMINAL,
    SubscriptionSnapshot,
    effective_status,
    grants_premium,
    should_apply,
)
from api.plans import PREMIUM_STATUSES

if TYPE_CHECKING:
    from psycopg import AsyncConnection

logger = logging.getLogger(__name__)

_LOCK_NS = 72_011_300  # pg_advisory_xact_lock namespace: one writer per subscription id


@dataclasses.dataclass(frozen=True, slots=True)
class PlanChange:
    """Something a person should hear about, or a cached identity to drop."""

    user_id: int
    kind: str  # upgraded | downgraded | payment_failed | touched
    email: str | None = None
    grace_until: datetime | None = None
    subscription_id: str | None = None


async def _lock(conn: AsyncConnection[Any], subscription_id: str) -> dict[str, Any] | None:
    await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                       (_LOCK_NS, subscription_id))
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT * FROM subscriptions WHERE stripe_subscription_id = %s FOR UPDATE",
                      (subscription_id,))
    return await cur.fetchone()


async def user_for_customer(conn: AsyncConnection[Any], customer: str | None) -> int | None:
    if not customer:
        return None
    cur = await conn.execute("SELECT id FROM users WHERE stripe_customer_id = %s", (customer,))
    row = await cur.fetchone()
    return int(row[0]) if row else None


async def _user_exists(conn: AsyncConnection[Any], user_id: int | None) -> int | None:
    if user_id is None:
        return None
    cur = await conn.execute("SELECT id FROM users WHERE id = %s", (user_id,))
    return user_id if await cur.fetchone() else None


async def sync_user_plan(conn: AsyncConnection[Any], user_id: int) -> tuple[str, str, str]:
    """Recompute ``users.plan`` from the subscriptions; returns (old plan, new plan, email)."""
    cur = await conn.execute(
        """UPDATE users u SET plan = CASE WHEN EXISTS (
                   SELECT 1 FROM subscriptions s WHERE s.user_id = u.id
                   AND s.status = ANY(%(paid)s) AND s.plan <> 'free')
               THEN 'premium' ELSE 'free' END,
               updated_at = now()
           FROM (SELECT id, plan FROM users WHERE id = %(u)s FOR UPDATE) old
           WHERE u.id = old.id RETURNING old.plan, u.plan, u.email""",
        {"u": user_id, "paid": list(PREMIUM_STATUSES)})
    row = await cur.fetchone()
    if row is None:
        return "free", "free", ""
    return str(row[0]), str(row[1]), str(row[2])


async def _changes(conn: AsyncConnection[Any], user_id: int, sub_id: str,
                   extra: list[PlanChange]) -> list[PlanChange]:
    old, new, email = await sync_user_plan(conn, user_id)
    out = list(extra)
    if old != "premium" and new == "premium":
        out.append(PlanChange(user_id, "upgraded", email, subscription_id=sub_id))
    elif old == "premium" and new != "premium":
        cur = await conn.execute(
            """UPDATE subscriptions SET downgrade_notice_sent_at = now()
               WHERE stripe_subscription_id = %s AND downgrade_notice_sent_at IS NULL
               RETURNING id""", (sub_id,))
        if await cur.fetchone():
            out.append(PlanChange(user_id, "downgraded", email, subscription_id=sub_id))
    out.append(PlanChange(user_id, "touched", email, subscription_id=sub_id))
    return out


async def apply_snapshot(conn: AsyncConnection[Any], snap: SubscriptionSnapshot,
                         event_at: datetime, now: datetime, grace: timedelta,
                         user_id: int | None = None) -> tuple[str, list[PlanChange]]:
    """Write a subscription's state if it is newer than what is stored.

    Returns ("applied" | "stale" | "unmatched", plan changes).
    """
    row = await _lock(conn, snap.id)
    if row is not None and not should_apply(row["stripe_status"], row["stripe_event_at"],
                                            snap.status, event_at):
        return "stale", []
    owner = (row["user_id"] if row else None) or await user_for_customer(conn, snap.customer) \
        or await _user_exists(conn, snap.user_id) or await _user_exists(conn, user_id)
    if owner is None:
        logger.warning("subscription %s of customer %s matches no user; ignored (was the "
                       "customer created outside Rip City?)", snap.id, snap.customer)
        return "unmatched", []
    grace_until = row["grace_until"] if row else None
    failed_at = row["last_payment_failed_at"] if row else None
    if snap.status in TERMINAL or (snap.status in ("active", "trialing")
                                   and (failed_at is None or event_at > failed_at)):
        grace_until = None  # ended, or paid up since the last failure
    elif snap.status == "past_due" and grace_until is None:
        grace_until = event_at + grace
    status = effective_status(snap.status, grace_until, now)
    values = {
        "user_id": owner, "customer": snap.customer, "sub": snap.id, "price": snap.price_id,
        "status": status, "stripe_status": snap.status, "event_at": event_at,
        "interval": snap.interval, "start": snap.current_period_start,
        "end": snap.current_period_end, "cape": snap.cancel_at_period_end,
        "cancel_at": snap.cancel_at, "canceled_at": snap.canceled_at, "ended_at": snap.ended_at,
        "invoice": snap.latest_invoice, "grace": grace_until,
    }
    await conn.execute(
        """INSERT INTO subscriptions AS s (user_id, stripe_customer_id, stripe_subscription_id,
               price_id, plan, status, stripe_status, stripe_event_at, billing_interval,
               current_period_start, current_period_end, cancel_at_period_end, cancel_at,
               canceled_at, ended_at, latest_invoice_id, grace_until)
           VALUES (%(user_id)s, %(customer)s, %(sub)s, %(price)s, 'premium', %(status)s,
               %(stripe_status)s, %(event_at)s, %(interval)s, %(start)s, %(end)s, %(cape)s,
               %(cancel_at)s, %(canceled_at)s, %(ended_at)s, %(invoice)s, %(grace)s)
           ON CONFLICT (stripe_subscription_id) DO UPDATE SET
               stripe_customer_id = EXCLUDED.stripe_customer_id,
               price_id = coalesce(EXCLUDED.price_id, s.price_id),
               status = EXCLUDED.status, stripe_status = EXCLUDED.stripe_status,
               stripe_event_at = EXCLUDED.stripe_event_at,
               billing_interval = coalesce(EXCLUDED.billing_interval, s.billing_interval),
               current_period_start = coalesce(EXCLUDED.current_period_start,
                                               s.current_period_start),
               current_period_end = coalesce(EXCLUDED.current_period_end, s.current_period_end),
               cancel_at_period_end = EXCLUDED.cancel_at_period_end,
               cancel_at = EXCLUDED.cancel_at, canceled_at = EXCLUDED.canceled_at,
               ended_at = EXCLUDED.ended_at,
               latest_invoice_id = coalesce(EXCLUDED.latest_invoice_id, s.latest_invoice_id),
               grace_until = EXCLUDED.grace_until,
               grace_notice_sent_at = CASE WHEN EXCLUDED.grace_until IS NULL THEN NULL
                                           ELSE s.grace_notice_sent_at END,
               downgrade_notice_sent_at = CASE WHEN EXCLUDED.status = ANY(%(paid)s) THEN NULL
                                               ELSE s.downgrade_notice_sent_at END,
               updated_at = now()""",
        {**values, "paid": list(PREMIUM_STATUSES)})
    return "applied", await _changes(conn, owner, snap.id, [])


async def record_invoice(conn: AsyncConnection[Any], subscription_id: str, invoice_id: str | None,
                         paid: bool, event_at: datetime, now: datetime,
                         grace: timedelta) -> tuple[str, list[PlanChange]]:
    """An invoice of this subscription was paid, or its payment failed.

    A failure opens the grace period (once, from the first failure); a payment made after
    the last failure closes it. Returns ("applied" | "stale" | "missing", plan changes).
    """
    row = await _lock(conn, subscription_id)
    if row is None:
        return "missing", []
    extra: list[PlanChange] = []
    grace_until = row["grace_until"]
    if paid:
        if row["last_paid_at"] and event_at < row["last_paid_at"]:
            return "stale", []
        failed = row["last_payment_failed_at"]
        if failed is None or event_at >= failed:
            grace_until = None
        sets = "last_paid_at = %(at)s, last_paid_invoice_id = %(invoice)s"
    else:
        paid_at = row["last_paid_at"]
        if paid_at and (event_at < paid_at or (event_at == paid_at and invoice_id in (
                None, row["last_paid_invoice_id"]))):
            return "stale", []  # a payment already succeeded after this failure
        if row["stripe_status"] in TERMINAL:
            return "stale", []
        grace_until = grace_until or event_at + grace
        sets = "last_payment_failed_at = greatest(last_payment_failed_at, %(at)s)"
    status = effective_status(row["stripe_status"] or row["status"], grace_until, now)
    await conn.execute(
        f"""UPDATE subscriptions SET {sets}, grace_until = %(grace)s, status = %(status)s,
                latest_invoice_id = coalesce(%(invoice)s, latest_invoice_id),
                grace_notice_sent_at = CASE WHEN %(grace)s::timestamptz IS NULL THEN NULL
                                            ELSE coalesce(grace_notice_sent_at, now()) END,
                downgrade_notice_sent_at = CASE WHEN %(status)s = ANY(%(paid)s) THEN NULL
                                                ELSE downgrade_notice_sent_at END,
                updated_at = now()
            WHERE id = %(id)s""",
        {"at": event_at, "grace": grace_until, "status": status, "invoice": invoice_id,
         "id": row["id"], "paid": list(PREMIUM_STATUSES)})
    first_failure = not paid and row["grace_notice_sent_at"] is None
    if first_failure and grace_until is not None and grants_premium(status):
        extra.append(PlanChange(row["user_id"], "payment_failed", grace_until=grace_until,
                                subscription_id=subscription_id))
    changes = await _changes(conn, row["user_id"], subscription_id, extra)
    email = next((c.email for c in changes if c.email), None)
    return "applied", [dataclasses.replace(c, email=c.email or email) for c in changes]


async def expire_grace(conn: AsyncConnection[Any], now: datetime,
                       user_id: int | None = None) -> list[PlanChange]:
    """Move subscriptions whose grace period ended to 'unpaid' (free); the sweeper's step."""
    cur = await conn.execute(
        """SELECT stripe_subscription_id FROM subscriptions
           WHERE grace_until <= %(now)s AND status = ANY(%(paid)s)
             AND (%(u)s::bigint IS NULL OR user_id = %(u)s)
           ORDER BY grace_until LIMIT 500""",
        {"now": now, "paid": list(PREMIUM_STATUSES), "u": user_id})
    changes: list[PlanChange] = []
    for (sub_id,) in await cur.fetchall():
        row = await _lock(conn, sub_id)
        if row is None or row["grace_until"] is None:
            continue
        status = effective_status(row["stripe_status"] or row["status"], row["grace_until"], now)
        if grants_premium(status):
            continue
        await conn.execute("UPDATE subscriptions SET status = %s, updated_at = now() "
                           "WHERE id = %s", (status, row["id"]))
        changes.extend(await _changes(conn, row["user_id"], sub_id, []))
    return changes


async def current_for_user(conn: AsyncConnection[Any], user_id: int) -> dict[str, Any] | None:
    """The user's subscription that matters most: a paid one, else the newest."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """SELECT * FROM subscriptions WHERE user_id = %(u)s
           ORDER BY (status = ANY(%(paid)s)) DESC, created_at DESC, id DESC LIMIT 1""",
        {"u": user_id, "paid": list(PREMIUM_STATUSES)})
    return await cur.fetchone()
