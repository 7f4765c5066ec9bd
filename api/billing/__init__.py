"""Stripe billing: the premium plan's checkout, portal, webhooks and subscription state.

``controller`` serves ``/api/v1/billing``; ``checkout`` makes the Stripe calls for a user;
``webhooks`` applies Stripe's events through the pure state machine (``state``) and
``subscriptions``; ``sweeper`` ends grace periods on time; ``notices`` and ``effects`` tell the
user after a commit. Billing decides which plan a user has by writing the ``subscriptions``
table (through :mod:`storage.billing`); the limits themselves live in :mod:`api.plans`.
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
