"""What the billing endpoints send and accept (msgspec Structs; rows are mapped, never raw)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from api.plans import Plan
    from storage.billing import Subscription


class PlanView(msgspec.Struct):
    """A plan's limits, as the API, the alerts and the scheduler enforce them."""

    name: str
    max_watchlists: int
    max_alert_rules: int
    sms_alerts: bool
    requests_per_minute: int
    refresh_cadence_seconds: int
    refreshes_per_hour: int
    forecasts: bool

    @classmethod
    def of(cls, plan: Plan) -> PlanView:
        return cls(name=plan.name, max_watchlists=plan.max_watchlists,
                   max_alert_rules=plan.max_alert_rules, sms_alerts=plan.sms_alerts,
                   requests_per_minute=plan.requests_per_minute,
                   refresh_cadence_seconds=plan.refresh_cadence_seconds,
                   refreshes_per_hour=plan.refreshes_per_hour, forecasts=plan.forecasts)


class PlanCatalog(msgspec.Struct):
    billing_enabled: bool
    plans: list[PlanView]
    #: billing intervals with a configured premium price
    intervals: list[str]
    upgrade_url: str


class SubscriptionView(msgspec.Struct):
    id: str | None
    #: what the product acts on: Stripe's status, or 'unpaid' once a grace period ended
    status: str
    stripe_status: str | None
    premium: bool
    interval: str | None
    price_id: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    cancel_at: datetime | None
    canceled_at: datetime | None
    ended_at: datetime | None
    #: premium lasts until then while a payment is failing
    grace_until: datetime | None

    @classmethod
    def of(cls, row: Subscription, premium: bool) -> SubscriptionView:
        return cls(id=row.stripe_subscription_id, status=row.status,
                   stripe_status=row.stripe_status, premium=premium,
                   interval=row.billing_interval, price_id=row.price_id,
                   current_period_end=row.current_period_end,
                   cancel_at_period_end=row.cancel_at_period_end, cancel_at=row.cancel_at,
                   canceled_at=row.canceled_at, ended_at=row.ended_at,
                   grace_until=row.grace_until)


class AccountBilling(msgspec.Struct):
    """The caller's plan, its limits and their subscription (if any)."""

    plan: PlanView
    subscription: SubscriptionView | None
    billing_enabled: bool
    upgrade_url: str | None
    portal_url: str | None


class CheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    interval: Literal["monthly", "annual"] = "monthly"


class CheckoutOut(msgspec.Struct):
    session_id: str
    #: open it in a browser: Stripe's hosted payment page
    url: str


class PortalOut(msgspec.Struct):
    url: str


class WebhookAck(msgspec.Struct):
    received: bool
    event_id: str
    type: str
    outcome: str
