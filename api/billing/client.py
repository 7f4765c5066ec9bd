"""The Stripe client, built from settings: keys and price ids come from config only.

``StripeClient`` (not the module globals) so two apps in one process, such as tests, can
talk to different Stripe endpoints; its ``base_addresses`` point the official SDK at a
local server speaking Stripe's REST format (``STRIPE_API_BASE``). HTTPX serves both the
sync and the ``*_async`` calls the handlers make.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import weakref
from typing import TYPE_CHECKING, Any, Literal

from api.lib.errors import Unavailable

if TYPE_CHECKING:
    import stripe

    from api.settings import BillingSettings

logger = logging.getLogger(__name__)

Interval = Literal["monthly", "annual"]


@dataclasses.dataclass(frozen=True, slots=True)
class Prices:
    """Stripe price ids of the premium plan, by billing interval."""

    monthly: str | None
    annual: str | None

    def for_interval(self, interval: Interval) -> str:
        price = self.monthly if interval == "monthly" else self.annual
        if not price:
            var = "STRIPE_PRICE_MONTHLY" if interval == "monthly" else "STRIPE_PRICE_ANNUAL"
            raise Unavailable(f"The {interval} premium price is not configured on this server "
                              f"(set {var} to a Stripe price id, price_...); try the other "
                              "billing interval or ask the operator.")
        return price


def prices(settings: BillingSettings) -> Prices:
    return Prices(monthly=settings.stripe_price_monthly, annual=settings.stripe_price_annual)


#: One client per event loop and key: the SDK's HTTPX client keeps an ``AsyncClient`` whose
#: connections belong to the loop that opened them.
_clients: weakref.WeakKeyDictionary[Any, dict[tuple[str, str | None], stripe.StripeClient]] = \
    weakref.WeakKeyDictionary()


class _NoLoop:
    """Stands for "called outside an event loop" as a weak-referenceable key."""


_NO_LOOP = _NoLoop()


def _client(api_key: str, api_base: str | None) -> stripe.StripeClient:
    import stripe

    try:
        loop: Any = asyncio.get_running_loop()
    except RuntimeError:
        loop = _NO_LOOP
    per_loop = _clients.setdefault(loop, {})
    client = per_loop.get((api_key, api_base))
    if client is None:
        bases: stripe.BaseAddresses = {"api": api_base.rstrip("/")} if api_base else {}
        client = stripe.StripeClient(api_key, base_addresses=bases, max_network_retries=2,
                                     http_client=stripe.HTTPXClient())
        per_loop[(api_key, api_base)] = client
    return client


def billing_enabled(settings: BillingSettings) -> bool:
    return bool(settings.stripe_api_key)


def stripe_client(settings: BillingSettings) -> stripe.StripeClient:
    """The client for these settings; 503 with what to set when billing is not configured."""
    if not settings.stripe_api_key:
        raise Unavailable("Billing is not configured on this server (STRIPE_API_KEY is not "
                          "set), so upgrades are unavailable; everything else works. "
                          "Operators: set STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET and the "
                          "STRIPE_PRICE_* ids.")
    return _client(settings.stripe_api_key, settings.stripe_api_base)


def webhook_secret(settings: BillingSettings) -> str:
    if not settings.stripe_webhook_secret:
        raise Unavailable("Stripe webhooks are not accepted here: STRIPE_WEBHOOK_SECRET is not "
                          "set. Operators: copy the endpoint's signing secret (whsec_...) from "
                          "the Stripe dashboard into STRIPE_WEBHOOK_SECRET.")
    return settings.stripe_webhook_secret
