"""Billing rows: subscriptions, the Stripe customer of a user, the Stripe event ledger, incidents.

The API's billing part decides (with its pure state machine) *what* to write; this module
holds the statements. Subscription functions run inside the caller's transaction; the
subscription row lock (:func:`lock_subscription`) serialises writers per subscription id.
``users.plan`` is a denormalised copy of "has a paid-up subscription", recomputed by
:func:`sync_user_plan`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from storage.db import record_row

if TYPE_CHECKING:
    from psycopg import AsyncConnection

#: Subscription statuses (Stripe's vocabulary) that grant the premium plan; the same rule as
#: the ``alert_user_is_premium`` SQL function (migration 0200).
PREMIUM_STATUSES: frozenset[str] = frozenset({"active", "trialing", "past_due"})
#: Stripe statuses after which a subscription can no longer charge the customer.
ENDED_STATUSES: tuple[str, ...] = ("canceled", "incomplete_expired")
_LOCK_NS = 72_011_300  # pg_advisory_xact_lock namespace: one writer per subscription id


@dataclasses.dataclass(frozen=True, slots=True)
class Subscription:
    """A row of ``subscriptions``."""

    id: int
    user_id: int
    stripe_customer_id: str | None
    stripe_subscription_id: str | None
    price_id: str | None
    plan: str
    #: what the product acts on: Stripe's status, or 'unpaid' once a grace period ended
    status: str
    stripe_status: str | None
    stripe_event_at: datetime | None
    billing_interval: str | None
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    cancel_at: datetime | None
    canceled_at: datetime | None
    ended_at: datetime | None
    latest_invoice_id: str | None
    last_paid_at: datetime | None
    last_paid_invoice_id: str | None
    last_payment_failed_at: datetime | None
    grace_until: datetime | None
    grace_notice_sent_at: datetime | None
    downgrade_notice_sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriptionWrite:
    """The state of a subscription as Stripe last reported it (what :func:`upsert_subscription`
    stores)."""

    user_id: int
    customer_id: str | None
    subscription_id: str
    price_id: str | None
    #: the effective status (see ``Subscription.status``)
    status: str
    stripe_status: str
    #: when Stripe created the event that reported this state
    event_at: datetime
    interval: str | None
    period_start: datetime | None
    period_end: datetime | None
    cancel_at_period_end: bool
    cancel_at: datetime | None
    canceled_at: datetime | None
    ended_at: datetime | None
    latest_invoice: str | None
    grace_until: datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class PlanSync:
    """The user's plan before and after :func:`sync_user_plan`, and where to tell them
    (None while the account's email is not verified: no notice goes to it)."""

    old: str
    new: str
    email: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class CustomerOwner:
    """The user a Stripe customer is created for (read under a row lock)."""

    email: str
    display_name: str | None
    stripe_customer_id: str | None
    #: when the account was created (seconds since the epoch, exact)
    created_epoch: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class Incident:
    """A refund or dispute reported by Stripe (logged, never acted on automatically)."""

    stripe_event_id: str
    kind: str  # refund | dispute
    event_type: str
    user_id: int | None
    stripe_customer_id: str | None
    object_id: str | None
    amount_cents: int | None
    currency: str | None
    reason: str | None
    status: str | None
    occurred_at: datetime


_SUB_COLS = """id, user_id, stripe_customer_id, stripe_subscription_id, price_id, plan, status,
    stripe_status, stripe_event_at, billing_interval, current_period_start, current_period_end,
    cancel_at_period_end, cancel_at, canceled_at, ended_at, latest_invoice_id, last_paid_at,
    last_paid_invoice_id, last_payment_failed_at, grace_until, grace_notice_sent_at,
    downgrade_notice_sent_at, created_at, updated_at"""
_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
_LOCKED_ROW = (f"SELECT {_SUB_COLS} FROM subscriptions WHERE stripe_subscription_id = %s "
               "FOR UPDATE")
_USER_FOR_CUSTOMER = "SELECT id FROM users WHERE stripe_customer_id = %s"
_USER_EXISTS = "SELECT id FROM users WHERE id = %s"
_SYNC_PLAN = """
UPDATE users u SET plan = CASE WHEN EXISTS (
        SELECT 1 FROM subscriptions s WHERE s.user_id = u.id
        AND s.status = ANY(%(paid)s) AND s.plan <> 'free')
    THEN 'premium' ELSE 'free' END,
    updated_at = now()
FROM (SELECT id, plan FROM users WHERE id = %(u)s FOR UPDATE) old
WHERE u.id = old.id RETURNING old.plan AS old, u.plan AS new,
    CASE WHEN u.email_verified_at IS NOT NULL THEN u.email END AS email
"""
_MARK_DOWNGRADE_NOTICE = """
UPDATE subscriptions SET downgrade_notice_sent_at = now()
WHERE stripe_subscription_id = %s AND downgrade_notice_sent_at IS NULL
RETURNING id
"""
_UPSERT = """
INSERT INTO subscriptions AS s (user_id, stripe_customer_id, stripe_subscription_id,
    price_id, plan, status, stripe_status, stripe_event_at, billing_interval,
    current_period_start, current_period_end, cancel_at_period_end, cancel_at,
    canceled_at, ended_at, latest_invoice_id, grace_until)
VALUES (%(user_id)s, %(customer_id)s, %(subscription_id)s, %(price_id)s, 'premium',
    %(status)s, %(stripe_status)s, %(event_at)s, %(interval)s, %(period_start)s,
    %(period_end)s, %(cancel_at_period_end)s, %(cancel_at)s, %(canceled_at)s, %(ended_at)s,
    %(latest_invoice)s, %(grace_until)s)
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
    updated_at = now()
"""
_INVOICE = """
UPDATE subscriptions SET {sets}, grace_until = %(grace)s, status = %(status)s,
    latest_invoice_id = coalesce(%(invoice)s, latest_invoice_id),
    grace_notice_sent_at = CASE WHEN %(grace)s::timestamptz IS NULL THEN NULL
                                ELSE coalesce(grace_notice_sent_at, now()) END,
    downgrade_notice_sent_at = CASE WHEN %(status)s = ANY(%(paid)s) THEN NULL
                                    ELSE downgrade_notice_sent_at END,
    updated_at = now()
WHERE id = %(id)s
"""
_INVOICE_PAID = _INVOICE.format(
    sets="last_paid_at = %(at)s, last_paid_invoice_id = %(invoice)s")
_INVOICE_FAILED = _INVOICE.format(
    sets="last_payment_failed_at = greatest(last_payment_failed_at, %(at)s)")
_GRACE_ENDED = """
SELECT stripe_subscription_id FROM subscriptions
WHERE grace_until <= %(now)s AND status = ANY(%(paid)s)
  AND (%(u)s::bigint IS NULL OR user_id = %(u)s)
ORDER BY grace_until LIMIT 500
"""
_SET_STATUS = "UPDATE subscriptions SET status = %s, updated_at = now() WHERE id = %s"
_CURRENT = f"""
SELECT {_SUB_COLS} FROM subscriptions WHERE user_id = %(u)s
ORDER BY (status = ANY(%(paid)s)) DESC, created_at DESC, id DESC LIMIT 1
"""
_LIVE = """
SELECT stripe_subscription_id FROM subscriptions WHERE user_id = %s
AND stripe_subscription_id IS NOT NULL
AND coalesce(stripe_status, status) <> ALL(%s) ORDER BY id
"""
_CUSTOMER_OWNER = """
SELECT email, display_name, stripe_customer_id,
       extract(epoch FROM created_at) AS created_epoch
FROM users WHERE id = %s FOR UPDATE
"""
_SET_CUSTOMER = ("UPDATE users SET stripe_customer_id = %s, updated_at = now() "
                 "WHERE id = %s")
_LINK_CUSTOMER = """
UPDATE users SET stripe_customer_id = %s WHERE id = %s AND stripe_customer_id IS NULL
AND NOT EXISTS (SELECT 1 FROM users WHERE stripe_customer_id = %s)
"""
_EVENT_RECORD = """
INSERT INTO stripe_events (id, type, payload, created_at)
VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING
"""
_EVENT_LOCK = "SELECT processed_at FROM stripe_events WHERE id = %s FOR UPDATE"
_EVENT_DONE = """
UPDATE stripe_events SET processed_at = now(), outcome = %s, error = NULL WHERE id = %s
"""
_EVENT_FAILED = """
INSERT INTO stripe_events (id, type, payload, created_at, error)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET error = EXCLUDED.error
"""
_INCIDENT = """
INSERT INTO billing_incidents (stripe_event_id, kind, event_type, user_id,
    stripe_customer_id, object_id, amount_cents, currency, reason, status, occurred_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (stripe_event_id) DO NOTHING
"""


def _paid() -> list[str]:
    return list(PREMIUM_STATUSES)


# --- subscriptions -------------------------------------------------------------------------

async def lock_subscription(conn: AsyncConnection[Any], subscription_id: str
                            ) -> Subscription | None:
    """Take the writer lock of ``subscription_id`` and its row (None if not stored yet)."""
    await conn.execute(_LOCK, (_LOCK_NS, subscription_id))
    cur = conn.cursor(row_factory=record_row(Subscription))
    await cur.execute(_LOCKED_ROW, (subscription_id,))
    return await cur.fetchone()


async def user_for_customer(conn: AsyncConnection[Any], customer: str | None) -> int | None:
    if not customer:
        return None
    cur = await conn.execute(_USER_FOR_CUSTOMER, (customer,))
    row = await cur.fetchone()
    return int(row[0]) if row else None


async def user_exists(conn: AsyncConnection[Any], user_id: int | None) -> int | None:
    """``user_id`` if that user exists, else None."""
    if user_id is None:
        return None
    cur = await conn.execute(_USER_EXISTS, (user_id,))
    return user_id if await cur.fetchone() else None


async def sync_user_plan(conn: AsyncConnection[Any], user_id: int) -> PlanSync:
    """Recompute ``users.plan`` from the subscriptions."""
    cur = conn.cursor(row_factory=record_row(PlanSync))
    await cur.execute(_SYNC_PLAN, {"u": user_id, "paid": _paid()})
    row = await cur.fetchone()
    return row if row is not None else PlanSync("free", "free", "")


async def mark_downgrade_notice(conn: AsyncConnection[Any], subscription_id: str) -> bool:
    """Claim the one downgrade email of this subscription; False if it was already sent."""
    cur = await conn.execute(_MARK_DOWNGRADE_NOTICE, (subscription_id,))
    return await cur.fetchone() is not None


async def upsert_subscription(conn: AsyncConnection[Any], state: SubscriptionWrite) -> None:
    """Store Stripe's state of a subscription (a paid status clears the downgrade notice)."""
    await conn.execute(_UPSERT, {**dataclasses.asdict(state), "paid": _paid()})


async def record_invoice(conn: AsyncConnection[Any], row_id: int, *, paid: bool,
                         event_at: datetime, invoice_id: str | None,
                         grace_until: datetime | None, status: str) -> None:
    """An invoice was paid (or its payment failed) at ``event_at``: store it, the grace
    period and the effective status."""
    await conn.execute(_INVOICE_PAID if paid else _INVOICE_FAILED,
                       {"at": event_at, "grace": grace_until, "status": status,
                        "invoice": invoice_id, "id": row_id, "paid": _paid()})


async def grace_ended(conn: AsyncConnection[Any], now: datetime,
                      user_id: int | None = None) -> list[str]:
    """Subscription ids still granting premium whose grace period is over (oldest first)."""
    cur = await conn.execute(_GRACE_ENDED, {"now": now, "paid": _paid(), "u": user_id})
    return [r[0] for r in await cur.fetchall()]


async def set_status(conn: AsyncConnection[Any], row_id: int, status: str) -> None:
    await conn.execute(_SET_STATUS, (status, row_id))


async def current_for_user(conn: AsyncConnection[Any], user_id: int) -> Subscription | None:
    """The user's subscription that matters most: a paid one, else the newest."""
    cur = conn.cursor(row_factory=record_row(Subscription))
    await cur.execute(_CURRENT, {"u": user_id, "paid": _paid()})
    return await cur.fetchone()


async def live_subscription_ids(conn: AsyncConnection[Any], user_id: int) -> list[str]:
    """The user's Stripe subscriptions that have not ended, by Stripe's own status (they
    must end before the account goes, or Stripe keeps billing a person with no account)."""
    cur = await conn.execute(_LIVE, (user_id, list(ENDED_STATUSES)))
    return [r[0] for r in await cur.fetchall()]


# --- the Stripe customer of a user ---------------------------------------------------------

async def lock_customer_owner(conn: AsyncConnection[Any], user_id: int) -> CustomerOwner | None:
    """The user (row-locked until the transaction ends), or None if the account is gone."""
    cur = conn.cursor(row_factory=record_row(CustomerOwner))
    await cur.execute(_CUSTOMER_OWNER, (user_id,))
    return await cur.fetchone()


async def set_customer(conn: AsyncConnection[Any], user_id: int, customer: str) -> None:
    await conn.execute(_SET_CUSTOMER, (customer, user_id))


async def link_customer(conn: AsyncConnection[Any], user_id: int, customer: str) -> None:
    """Remember a customer made outside our checkout, unless the user or customer has one."""
    await conn.execute(_LINK_CUSTOMER, (customer, user_id, customer))


# --- the Stripe event ledger ---------------------------------------------------------------

async def claim_event(conn: AsyncConnection[Any], event: dict[str, Any], event_at: datetime
                      ) -> bool:
    """Record the event (once) and lock it for this transaction; False if it was already
    processed (a duplicate delivery)."""
    await conn.execute(_EVENT_RECORD, (event["id"], event["type"], Jsonb(event), event_at))
    cur = await conn.execute(_EVENT_LOCK, (event["id"],))
    row = await cur.fetchone()
    return row is None or row[0] is None


async def finish_event(conn: AsyncConnection[Any], event_id: str, outcome: str) -> None:
    await conn.execute(_EVENT_DONE, (outcome, event_id))


async def record_event_failure(conn: AsyncConnection[Any], event: dict[str, Any],
                               event_at: datetime, error: str) -> None:
    """Keep a failed event and why (Stripe's retry, and a person, can see it)."""
    await conn.execute(_EVENT_FAILED, (event["id"], event["type"], Jsonb(event), event_at,
                                       error[:2000]))


async def record_incident(conn: AsyncConnection[Any], incident: Incident) -> None:
    await conn.execute(_INCIDENT, dataclasses.astuple(incident))
