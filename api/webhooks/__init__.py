"""What vendors and mail clients call back: Stripe events (``stripe``), Twilio replies and
delivery reports (``twilio``), one-click email unsubscribes (``unsubscribe``).

None of them uses an API key or session: a vendor's signature, or our own signed link, is the
credential. ``ROUTE_HANDLERS`` is mounted at the root by the app factory.
"""

from __future__ import annotations

from typing import Any

from api.webhooks import twilio, unsubscribe
from api.webhooks.stripe import StripeWebhookController

ROUTE_HANDLERS: list[Any] = [StripeWebhookController, *twilio.ROUTE_HANDLERS,
                             *unsubscribe.ROUTE_HANDLERS]
