"""What makes an alert rule valid, for the REST endpoints and the dashboard alike."""

from __future__ import annotations

import zoneinfo
from typing import TYPE_CHECKING, Any

from api.lib.errors import InvalidInput, PremiumRequired
from api.plans import UPGRADE_PATH

if TYPE_CHECKING:
    from api.lib.principals import Principal

TARGETS = ("event_id", "watchlist_id", "performer", "venue_id")
#: The value each kind needs (the kinds ``engine.alerts.matcher`` matches); a tuple: any one.
NEEDS: dict[str, tuple[str, ...]] = {
    "price_at_or_below": ("max_price_cents",),
    "drop_percent": ("drop_percent", "drop_cents"),
    "deal_score_at_least": ("min_deal_score",),
    "new_listing_in_section": ("sections",),
    "back_in_stock": (),
    "new_low": (),
    "near_low": (),
    "keeps_dropping": (),
}


def check_rule(fields: dict[str, Any], user: Principal) -> None:
    """A new rule: one target, the value its kind needs, and :func:`check_common`."""
    targets = [t for t in TARGETS if fields.get(t) is not None]
    if len(targets) != 1:
        raise InvalidInput("An alert rule targets exactly one of event_id, watchlist_id, "
                           f"performer or venue_id (got {', '.join(targets) or 'none'})",
                           errors=[{"field": "event_id", "message": "exactly one target"}])
    kind = fields.get("kind", "")
    need = NEEDS.get(kind, ())
    if need and not any(fields.get(n) for n in need):
        wanted = " or ".join(need)
        hint = (" (a percent, e.g. 15, or an amount in cents, e.g. 2000; window_seconds sets "
                "how far back the drop is measured, default 86400 = one day)"
                if kind == "drop_percent" else "")
        raise InvalidInput(f"A {kind} rule needs {wanted}{hint}",
                           errors=[{"field": need[0], "message": f"{wanted} required for {kind}"}])
    check_get_in(kind, fields)
    check_common(fields, user)


#: kinds measured on a get-in price: the event's, or with sections the cheapest listing in
#: any of them, across every marketplace and quantity
GET_IN_KINDS = ("new_low", "near_low", "keeps_dropping")


def check_get_in(kind: str, fields: dict[str, Any]) -> None:
    """A get-in rule (new or changed) takes no marketplace; keeps_dropping follows at most
    one section. Other kinds pass."""
    if kind not in GET_IN_KINDS:
        return
    if fields.get("marketplace"):
        raise InvalidInput(f"A {kind} rule follows the get-in price across every "
                           "marketplace (of the event, or of its sections); leave "
                           "marketplace out",
                           errors=[{"field": "marketplace", "message": f"not used by {kind}"}])
    if kind == "keeps_dropping" and len(fields.get("sections") or ()) > 1:
        raise InvalidInput("A keeps_dropping rule follows the event's get-in price or one "
                           "section's; name one section (or one rule per section)",
                           errors=[{"field": "sections", "message": "one section at most"}])


def check_common(fields: dict[str, Any], user: Principal) -> None:
    """New or changed fields: SMS only on premium, quiet hours both or neither, a real time
    zone; sorts ``channels`` (in place)."""
    if "sms" in (fields.get("channels") or ()) and not user.plan.sms_alerts:
        raise PremiumRequired(
            f"SMS alerts are a premium feature (your plan: {user.plan.name}); use "
            f"channels [\"email\"] or upgrade with POST {UPGRADE_PATH}.", upgrade_url=UPGRADE_PATH)
    if (fields.get("quiet_start") is None) != (fields.get("quiet_end") is None) and \
            ("quiet_start" in fields or "quiet_end" in fields):
        raise InvalidInput("Quiet hours need both quiet_start and quiet_end",
                           errors=[{"field": "quiet_end", "message": "set both or neither"}])
    tz = fields.get("quiet_timezone")
    if tz:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"quiet_timezone {tz!r} is not an IANA time zone such as "
                               "America/Los_Angeles",
                               errors=[{"field": "quiet_timezone", "message": "unknown zone"}]
                               ) from None
    if fields.get("channels"):
        fields["channels"] = sorted(set(fields["channels"]))
