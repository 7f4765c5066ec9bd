"""The caller's alert rules (CRUD) and the alerts sent to them."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from api.lib.deps import RuntimeDep, UserDep
from api.lib.errors import InvalidInput, PaymentRequired
from api.lib.pagination import encode_cursor, next_link
from api.lib.params import Cursor, Limit
from api.plans import UPGRADE_PATH
from api.routes.watchlists import owned_page_after
from api.schemas.accounts import (
    AlertPage,
    AlertRule,
    AlertRuleIn,
    AlertRulePage,
    AlertRulePatch,
    AlertSent,
)
from api.services import owned as svc

RuleId = Annotated[int, Parameter(ge=1, le=2**62, description="alert rule id")]
_TARGETS = ("event_id", "watchlist_id", "performer", "venue_id")
#: The value each kind needs (the kinds ``engine.alerts.matcher`` matches); a tuple: any one.
_NEEDS: dict[str, tuple[str, ...]] = {
    "price_at_or_below": ("max_price_cents",),
    "drop_percent": ("drop_percent", "drop_cents"),
    "deal_score_at_least": ("min_deal_score",),
    "new_listing_in_section": ("sections",),
    "back_in_stock": (),
}


def _check_rule(fields: dict[str, Any], user: UserDep) -> None:
    targets = [t for t in _TARGETS if fields.get(t) is not None]
    if len(targets) != 1:
        raise InvalidInput("An alert rule targets exactly one of event_id, watchlist_id, "
                           f"performer or venue_id (got {', '.join(targets) or 'none'})",
                           errors=[{"field": "event_id", "message": "exactly one target"}])
    kind = fields.get("kind", "")
    need = _NEEDS.get(kind, ())
    if need and not any(fields.get(n) for n in need):
        wanted = " or ".join(need)
        hint = (" (a percent, e.g. 15, or an amount in cents, e.g. 2000; window_seconds sets "
                "how far back the drop is measured, default 86400 = one day)"
                if kind == "drop_percent" else "")
        raise InvalidInput(f"A {kind} rule needs {wanted}{hint}",
                           errors=[{"field": need[0], "message": f"{wanted} required for {kind}"}])
    _check_common(fields, user)


def _check_common(fields: dict[str, Any], user: UserDep) -> None:
    if "sms" in (fields.get("channels") or ()) and not user.plan.sms_alerts:
        raise PaymentRequired(
            f"SMS alerts are a premium feature (your plan: {user.plan.name}); use "
            f"channels [\"email\"] or upgrade with POST {UPGRADE_PATH}.", upgrade_url=UPGRADE_PATH)
    if (fields.get("quiet_start") is None) != (fields.get("quiet_end") is None) and \
            ("quiet_start" in fields or "quiet_end" in fields):
        raise InvalidInput("Quiet hours need both quiet_start and quiet_end",
                           errors=[{"field": "quiet_end", "message": "set both or neither"}])
    tz = fields.get("quiet_timezone")
    if tz:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"quiet_timezone {tz!r} is not an IANA time zone such as "
                               "America/Los_Angeles",
                               errors=[{"field": "quiet_timezone", "message": "unknown zone"}]
                               ) from None
    if fields.get("channels"):
        fields["channels"] = sorted(set(fields["channels"]))


class AlertRuleController(Controller):
    path = "/alert-rules"
    tags = ["alerts"]

    @get("/", summary="Your alert rules")
    async def list_rules(self, request: Request[Any, Any, Any], user: UserDep,
                         runtime: RuntimeDep, limit: Limit = 50,
                         cursor: Cursor = None) -> AlertRulePage:
        after = owned_page_after(cursor)
        async with runtime.pool.connection() as conn:
            rows = await svc.list_rules(conn, user.user_id, limit, after)
        nxt = encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
        return AlertRulePage(items=[AlertRule(**r) for r in rows[:limit]], next_cursor=nxt,
                             next=next_link("/api/v1/alert-rules", dict(request.query_params),
                                            nxt))

    @post("/", summary="Create an alert rule")
    async def create(self, data: JSONBody[AlertRuleIn],
                     user: UserDep, runtime: RuntimeDep) -> AlertRule:
        """Kinds: price_at_or_below (max_price_cents), drop_percent (drop_percent or
        drop_cents, within window_seconds), deal_score_at_least (min_deal_score),
        new_listing_in_section (sections), back_in_stock (no value). Without quiet hours of
        its own a rule takes the account's (PATCH /api/v1/account). Email always; SMS on
        premium."""
        fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
        fields.setdefault("channels", ["email"])
        _check_rule(fields, user)
        async with runtime.pool.connection() as conn, conn.transaction():
            await svc.reserve_slot(conn, user, "alert_rules")
            await svc.check_targets(conn, user.user_id, fields)
            return AlertRule(**await svc.create_rule(conn, user.user_id, fields))

    @get("/{rule_id:int}", summary="One of your alert rules")
    async def get_rule(self, rule_id: RuleId, user: UserDep, runtime: RuntimeDep) -> AlertRule:
        async with runtime.pool.connection() as conn:
            return AlertRule(**await svc.get_rule(conn, user.user_id, rule_id))

    @patch("/{rule_id:int}", summary="Change an alert rule (only the fields sent)")
    async def update(self, rule_id: RuleId, data: JSONBody[AlertRulePatch], user: UserDep,
                     runtime: RuntimeDep) -> AlertRule:
        fields = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
        _check_common(fields, user)
        async with runtime.pool.connection() as conn:
            if ("quiet_start" in fields) != ("quiet_end" in fields):
                current = await svc.get_rule(conn, user.user_id, rule_id)
                merged = {"quiet_start": current["quiet_start"], "quiet_end": current["quiet_end"],
                          **{k: fields[k] for k in ("quiet_start", "quiet_end") if k in fields}}
                if (merged["quiet_start"] is None) != (merged["quiet_end"] is None):
                    raise InvalidInput("Quiet hours need both quiet_start and quiet_end",
                                       errors=[{"field": "quiet_end",
                                                "message": "set both or neither"}])
            return AlertRule(**await svc.update_rule(conn, user.user_id, rule_id, fields))

    @delete("/{rule_id:int}", status_code=HTTP_204_NO_CONTENT, summary="Delete an alert rule")
    async def remove(self, rule_id: RuleId, user: UserDep, runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn:
            await svc.delete_owned(conn, "alert_rules", user.user_id, rule_id)


class AlertHistoryController(Controller):
    path = "/alerts"
    tags = ["alerts"]

    @get("/", summary="Alerts matched for you (newest first) and their delivery status")
    async def history(self, request: Request[Any, Any, Any], user: UserDep,
                      runtime: RuntimeDep, limit: Limit = 50, cursor: Cursor = None) -> AlertPage:
        before = owned_page_after(cursor)
        async with runtime.pool.connection() as conn:
            rows = await svc.list_alerts(conn, user.user_id, limit, before)
        nxt = encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
        return AlertPage(items=[AlertSent(**r) for r in rows[:limit]], next_cursor=nxt,
                         next=next_link("/api/v1/alerts", dict(request.query_params), nxt))
