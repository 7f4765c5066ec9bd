"""Plan limits: the one place that says what free and premium accounts may do.

Billing drives a user's plan through the ``subscriptions`` table (storage computes the plan's
name: :data:`storage.billing.PREMIUM_STATUSES`); everything else asks :func:`plan_for` and
reads a :class:`Plan`. Change a limit here and the API and the dashboard follow.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What an account on this plan may do."""

    name: str
    #: watchlist entries (events, performers, venues) the account may keep
    max_watchlists: int
    #: alert rules the account may keep
    max_alert_rules: int
    #: SMS alerts (email is always allowed)
    sms_alerts: bool
    #: API requests per minute per key / session (``RateLimit-Limit``)
    requests_per_minute: int
    #: the fastest re-crawl cadence the engine gives this account's watched events, seconds
    refresh_cadence_seconds: int
    #: manual ``POST /events/{id}/refresh`` requests per hour
    refreshes_per_hour: int
    #: price forecasts on event pages
    forecasts: bool
    #: webhook endpoints (the ``webhook`` alert channel, Slack / Discord presets included).
    #: Webhooks are on every plan -- a free account gets one endpoint so a script or a chat
    #: channel can follow its alerts -- and premium gets ten. Deliveries are not capped per
    #: day (programs, unlike inboxes, want every match); each batch's matches are one
    #: delivery per endpoint.
    max_webhook_endpoints: int = 1
    #: saved searches the account may keep (each may alert)
    max_saved_searches: int = 10


FREE = Plan(
    name="free", max_watchlists=5, max_alert_rules=10, sms_alerts=False,
    requests_per_minute=120, refresh_cadence_seconds=900, refreshes_per_hour=6, forecasts=False,
    max_webhook_endpoints=1,
)
PREMIUM = Plan(
    name="premium", max_watchlists=200, max_alert_rules=500, sms_alerts=True,
    requests_per_minute=1200, refresh_cadence_seconds=60, refreshes_per_hour=120,
    forecasts=True, max_webhook_endpoints=10, max_saved_searches=200,
)
#: Callers with no key or session, limited per client address.
ANONYMOUS = dataclasses.replace(FREE, name="anonymous", requests_per_minute=120,
                                max_watchlists=0, max_alert_rules=0, refreshes_per_hour=0,
                                max_webhook_endpoints=0, max_saved_searches=0)

PLANS: dict[str, Plan] = {p.name: p for p in (FREE, PREMIUM, ANONYMOUS)}

#: Where a free user upgrades (problem responses point here).
UPGRADE_PATH = "/api/v1/billing/checkout"


def plan_for(name: str | None) -> Plan:
    """The plan called ``name`` (unknown or missing names are the free plan)."""
    return PLANS.get(name or "free", FREE)

