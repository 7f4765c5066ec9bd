"""Stripe calls made on a user's behalf: their customer, Checkout, the portal, cancellation
(also of every live subscription before the account is deleted).

A user gets exactly one Stripe customer: it is created under a row lock on the user and
with an idempotency key, so concurrent upgrades or a retried request never create two.
Plan changes are *not* written here; they arrive through webhooks (the one source of truth).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import stripe

from api.billing.client import Interval, billing_enabled, prices, stripe_client
from api.lib.errors import ApiError, Conflict, NotFound, Unavailable
from storage import billing as store

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from api.lib.runtime import Runtime
    from api.settings import AppSettings

logger = logging.getLogger(__name__)


class PaymentProviderError(ApiError):
    status_code, slug, title = 502, "payment-provider-error", "Payment provider error"


def provider_error(err: stripe.StripeError, doing: str) -> ApiError:
    """Map an SDK error to a problem a person can act on (no secrets, Stripe's request id)."""
    ref = f" (Stripe request {err.request_id})" if getattr(err, "request_id", None) else ""
    if isinstance(err, stripe.APIConnectionError | stripe.RateLimitError):
        return Unavailable(f"Stripe could not be reached while {doing}{ref}; retry in a minute.",
                           headers={"Retry-After": "30"})
    if isinstance(err, stripe.AuthenticationError | stripe.PermissionError):
        logger.error("Stripe rejected our API key while %s: %s", doing, err.user_message)
        return Unavailable(f"Billing is misconfigured on this server{ref}: Stripe rejected its "
                           "API key. Operators: check STRIPE_API_KEY.")
    logger.warning("Stripe error while %s: %s", doing, err)
    msg = err.user_message or "Stripe refused the request"
    return PaymentProviderError(f"Stripe refused the request while {doing}: {msg}{ref}. "
                                "Retry later or contact support.")


async def ensure_customer(conn: AsyncConnection[Any], client: stripe.StripeClient,
                          user_id: int) -> str:
    """The user's Stripe customer id, creating the customer the first time."""
    async with conn.transaction():
        owner = await store.lock_customer_owner(conn, user_id)
        if owner is None:
            raise NotFound("Your account no longer exists; sign up again.")
        if owner.stripe_customer_id:
            return owner.stripe_customer_id
        params: dict[str, Any] = {"email": owner.email,
                                  "metadata": {"ripcity_user_id": str(user_id)}}
        if owner.display_name:
            params["name"] = owner.display_name
        # the key names this very account (ids restart when a database is rebuilt)
        key = f"ripcity-customer-{user_id}-{int(owner.created_epoch * 1000)}"
        try:
            created = await client.v1.customers.create_async(
                params, {"idempotency_key": key})  # type: ignore[arg-type]
        except stripe.StripeError as err:
            raise provider_error(err, "creating your billing profile") from err
        await store.set_customer(conn, user_id, created.id)
        logger.info("created Stripe customer %s for user %s", created.id, user_id)
        return str(created.id)


async def create_checkout(conn: AsyncConnection[Any], client: stripe.StripeClient,
                          settings: AppSettings, user_id: int, interval: Interval,
                          already_premium: bool) -> stripe.checkout.Session:
    """A Checkout Session (subscription mode) for the premium price of ``interval``."""
    if already_premium:
        raise Conflict("Your account is already premium: change the billing interval, card "
                       "or cancel in the billing portal (POST /api/v1/billing/portal).")
    price = prices(settings).for_interval(interval)
    customer = await ensure_customer(conn, client, user_id)
    base = settings.public_url.rstrip("/")
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": str(user_id),
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": f"{base}/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{base}/billing?checkout=canceled",
        "allow_promotion_codes": True,
        "metadata": {"ripcity_user_id": str(user_id)},
        "subscription_data": {"metadata": {"ripcity_user_id": str(user_id)}},
    }
    try:
        return await client.v1.checkout.sessions.create_async(params)  # type: ignore[arg-type]
    except stripe.StripeError as err:
        raise provider_error(err, "starting checkout") from err


async def create_portal(conn: AsyncConnection[Any], client: stripe.StripeClient,
                        settings: AppSettings, user_id: int) -> stripe.billing_portal.Session:
    """A Customer Portal session: change plan, update the card, cancel."""
    customer = await ensure_customer(conn, client, user_id)
    try:
        return await client.v1.billing_portal.sessions.create_async(
            {"customer": customer, "return_url": f"{settings.public_url.rstrip('/')}/billing"})
    except stripe.StripeError as err:
        raise provider_error(err, "opening the billing portal") from err


async def set_cancel_at_period_end(client: stripe.StripeClient, subscription_id: str,
                                   cancel: bool) -> stripe.Subscription:
    """Cancel at the end of the paid period (or undo that); the webhook updates the plan."""
    try:
        return await client.v1.subscriptions.update_async(
            subscription_id, {"cancel_at_period_end": cancel})
    except stripe.StripeError as err:
        raise provider_error(err, "changing your subscription") from err


async def cancel_now(client: stripe.StripeClient, subscription_id: str) -> stripe.Subscription:
    """End a subscription immediately (account deletion); Stripe sends the deleted event."""
    try:
        return await client.v1.subscriptions.cancel_async(subscription_id)
    except stripe.InvalidRequestError as err:
        if err.code == "resource_missing":
            raise NotFound(f"Stripe has no subscription {subscription_id}") from err
        raise provider_error(err, "canceling your subscription") from err
    except stripe.StripeError as err:
        raise provider_error(err, "canceling your subscription") from err


async def end_subscriptions(runtime: Runtime, user_id: int) -> None:
    """Cancel the user's live Stripe subscriptions now, before the account is deleted.

    Raises a 503 problem (retry) when Stripe cannot be reached or refuses: deleting the
    account anyway would leave Stripe billing a person who can no longer log in to stop it.
    A subscription Stripe no longer has is already over.
    """
    async with runtime.pool.connection() as conn:
        live = await store.live_subscription_ids(conn, user_id)
    if not live:
        return
    if not billing_enabled(runtime.settings):
        logger.warning("deleting user %s with live Stripe subscriptions %s: STRIPE_API_KEY "
                       "is not set, so they were not canceled", user_id, live)
        return
    client = stripe_client(runtime.settings)
    for sub_id in live:
        try:
            await cancel_now(client, sub_id)
        except NotFound:
            continue  # Stripe has no such live subscription: nothing left to bill
        except ApiError as err:
            raise Unavailable(
                "Your account was not deleted: your premium subscription must end first and "
                f"Stripe did not confirm it ({err.detail}). Nothing was changed; retry the "
                "deletion in a minute.", headers={"Retry-After": "60"}) from err
