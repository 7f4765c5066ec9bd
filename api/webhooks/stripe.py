"""``POST /webhooks/stripe``: Stripe tells us what happened to payments and subscriptions.

No API key or session here: the Stripe-Signature header is the credential. A forged,
replayed or malformed delivery gets a 400 naming the reason and changes nothing; a
duplicate gets a 200 (Stripe stops retrying); a failure while applying gets a 500, so
Stripe retries it later.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post

from api.billing.client import stripe_client, webhook_secret
from api.billing.effects import after_commit
from api.billing.schemas import WebhookAck
from api.billing.webhooks import process_event, verify
from api.lib.deps import RuntimeDep


class StripeWebhookController(Controller):
    """Stripe's event deliveries."""

    path = "/webhooks"
    tags = ["billing"]

    @post("/stripe", status_code=200, summary="Stripe webhook endpoint (signed by Stripe)",
          request_max_body_size=1024 * 1024, security=[{"stripeSignature": []}])
    async def stripe_event(self, request: Request[Any, Any, Any],
                           runtime: RuntimeDep) -> WebhookAck:
        """Verifies `Stripe-Signature`, records the event id, applies it once."""
        settings = runtime.settings
        secret = webhook_secret(settings)
        event = verify(await request.body(), request.headers.get("stripe-signature"), secret)
        outcome = await process_event(runtime.pool, settings, lambda: stripe_client(settings),
                                      event)
        await after_commit(runtime, outcome.changes)
        return WebhookAck(received=True, event_id=outcome.event_id, type=outcome.type,
                          outcome=outcome.outcome)
