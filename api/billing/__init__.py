"""Stripe billing: the premium plan's checkout, portal, webhooks and subscription state.

Billing decides which plan a user has by writing the ``subscriptions`` table (and its copy
in ``users.plan``); the limits themselves live in :mod:`api.plans`.
"""

from api.billing.client import billing_enabled, stripe_client, webhook_secret
from api.billing.state import SubscriptionSnapshot, effective_status, should_apply
from api.billing.sweeper import billing_lifespan, sweep
from api.billing.webhooks import Outcome, WebhookRejected, process_event, verify

__all__ = [
    "Outcome",
    "SubscriptionSnapshot",
    "WebhookRejected",
    "billing_enabled",
    "billing_lifespan",
    "effective_status",
    "process_event",
    "should_apply",
    "stripe_client",
    "sweep",
    "verify",
    "webhook_secret",
]
