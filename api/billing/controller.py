"""Billing for the caller: plans and limits, Checkout to upgrade, the portal, cancellation.

Plan changes never happen here: Stripe reports them through ``POST /webhooks/stripe``
(:mod:`api.webhooks.stripe`). With no ``STRIPE_API_KEY`` the Stripe-backed endpoints
answer 503 saying so, and reading plans still works.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, Parameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from api.billing import checkout as co
from api.billing.client import billing_enabled, prices, stripe_client
from api.billing.schemas import (
    AccountBilling,
    CheckoutIn,
    CheckoutOut,
    PlanCatalog,
    PlanView,
    PortalOut,
    SubscriptionView,
)
from api.billing.sweeper import sweep
from api.lib.deps import RuntimeDep, UserDep
from api.lib.errors import NotFound
from api.plans import FREE, PREMIUM, UPGRADE_PATH
from storage import billing as store

PORTAL_PATH = "/api/v1/billing/portal"


async def _subscription(runtime: RuntimeDep, user_id: int) -> store.Subscription | None:
    if runtime.settings.stripe_api_key:
        await sweep(runtime, user_id=user_id)  # a grace period that just ended shows now
    async with runtime.pool.connection() as conn:
        return await store.current_for_user(conn, user_id)


class BillingController(Controller):
    """The premium plan: what each plan allows, upgrading, and managing a subscription."""

    path = "/api/v1/billing"
    tags = ["billing"]

    @get("/plans", summary="The plans and their limits (public)")
    async def plans(self, runtime: RuntimeDep) -> PlanCatalog:
        p = prices(runtime.settings)
        return PlanCatalog(billing_enabled=billing_enabled(runtime.settings),
                           plans=[PlanView.of(FREE), PlanView.of(PREMIUM)],
                           intervals=[k for k, v in (("monthly", p.monthly),
                                                     ("annual", p.annual)) if v],
                           upgrade_url=UPGRADE_PATH)

    @get("/", summary="Your plan, its limits and your subscription")
    async def account(self, user: UserDep, runtime: RuntimeDep) -> AccountBilling:
        row = await _subscription(runtime, user.user_id)
        premium = user.plan.name == "premium"
        return AccountBilling(
            plan=PlanView.of(user.plan),
            subscription=SubscriptionView.of(row, premium) if row else None,
            billing_enabled=billing_enabled(runtime.settings),
            upgrade_url=None if premium else UPGRADE_PATH,
            portal_url=PORTAL_PATH if row else None)

    @get("/subscription", summary="Your subscription (404 if you never subscribed)")
    async def subscription(self, user: UserDep, runtime: RuntimeDep) -> SubscriptionView:
        row = await _subscription(runtime, user.user_id)
        if row is None:
            raise NotFound(f"You have no subscription; upgrade with POST {UPGRADE_PATH}.",
                           upgrade_url=UPGRADE_PATH)
        return SubscriptionView.of(row, user.plan.name == "premium")

    @post("/checkout", status_code=201, summary="Start a Stripe Checkout to upgrade")
    async def checkout(self, user: UserDep, runtime: RuntimeDep,
                       data: JSONBody[CheckoutIn | None] = None) -> CheckoutOut:
        """Returns the hosted payment page's URL; the plan changes when Stripe confirms the
        payment (webhook), usually seconds after the customer pays."""
        client = stripe_client(runtime.settings)
        interval = data.interval if data is not None else "monthly"
        async with runtime.pool.connection() as conn:
            session = await co.create_checkout(conn, client, runtime.settings, user.user_id,
                                               interval, user.plan.name == "premium")
        return CheckoutOut(session_id=session.id, url=str(session.url))

    @get("/checkout", summary="Go to Stripe Checkout (a link for browsers: 303 redirect)",
         status_code=HTTP_303_SEE_OTHER)
    async def checkout_link(
        self, user: UserDep, runtime: RuntimeDep,
        interval: Annotated[str, Parameter(description="monthly or annual",
                                           pattern="^(monthly|annual)$")] = "monthly",
    ) -> Redirect:
        client = stripe_client(runtime.settings)
        async with runtime.pool.connection() as conn:
            session = await co.create_checkout(conn, client, runtime.settings, user.user_id,
                                               interval,  # type: ignore[arg-type]
                                               user.plan.name == "premium")
        return Redirect(str(session.url), status_code=HTTP_303_SEE_OTHER)

    @post("/portal", status_code=201, summary="Open the Stripe Customer Portal")
    async def portal(self, user: UserDep, runtime: RuntimeDep) -> PortalOut:
        """Change the billing interval, update the card, see invoices or cancel."""
        client = stripe_client(runtime.settings)
        async with runtime.pool.connection() as conn:
            session = await co.create_portal(conn, client, runtime.settings, user.user_id)
        return PortalOut(url=str(session.url))

    @post("/subscription/cancel", status_code=200,
          summary="Cancel at the end of the paid period (premium until then)")
    async def cancel(self, user: UserDep, runtime: RuntimeDep) -> SubscriptionView:
        return await self._set_cancel(user, runtime, True)

    @post("/subscription/resume", status_code=200,
          summary="Keep a subscription that was set to cancel at period end")
    async def resume(self, user: UserDep, runtime: RuntimeDep) -> SubscriptionView:
        return await self._set_cancel(user, runtime, False)

    async def _set_cancel(self, user: UserDep, runtime: RuntimeDep,
                          cancel: bool) -> SubscriptionView:
        client = stripe_client(runtime.settings)
        row = await _subscription(runtime, user.user_id)
        if row is None or row.stripe_status in store.ENDED_STATUSES \
                or not row.stripe_subscription_id:
            raise NotFound(f"You have no active subscription; upgrade with POST {UPGRADE_PATH}.",
                           upgrade_url=UPGRADE_PATH)
        await co.set_cancel_at_period_end(client, row.stripe_subscription_id, cancel)
        # Stripe's webhook records it; answer with the state Stripe accepted
        return SubscriptionView.of(dataclasses.replace(row, cancel_at_period_end=cancel),
                                   user.plan.name == "premium")
