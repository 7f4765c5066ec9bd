"""The caller's alert rules (CRUD) and the alerts sent to them."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from api.alerts.rules import check_common, check_get_in, check_rule
from api.alerts.schemas import (
    AlertPage,
    AlertRule,
    AlertRuleIn,
    AlertRulePage,
    AlertRulePatch,
    AlertSent,
)
from api.lib.analytics import record
from api.lib.deps import ReadsDep, RuntimeDep, UserDep
from api.lib.errors import InvalidInput
from api.lib.pagination import id_after, id_page
from api.lib.params import Cursor, Limit
from api.watchlists.service import reserve_slot
from storage import alert_history
from storage import watchlists as store

RuleId = Annotated[int, Parameter(ge=1, le=2**62, description="alert rule id")]


def _rule(row: store.AlertRule) -> AlertRule:
    return msgspec.convert(row, AlertRule, from_attributes=True)


def _given(data: msgspec.Struct) -> dict[str, Any]:
    return {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}


class AlertRuleController(Controller):
    path = "/alert-rules"
    tags = ["alerts"]

    @get("/", summary="Your alert rules")
    async def list_rules(self, request: Request[Any, Any, Any], user: UserDep,
                         runtime: RuntimeDep, reads: ReadsDep, limit: Limit = 50,
                         cursor: Cursor = None) -> AlertRulePage:
        after = id_after(cursor)
        async with reads.connection() as conn:
            rows = await store.list_rules(conn, user.user_id, limit, after)
        items, nxt, link = id_page(rows, limit, "/api/v1/alert-rules", request.query_params)
        return AlertRulePage(items=[_rule(r) for r in items], next_cursor=nxt, next=link)

    @post("/", summary="Create an alert rule")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[AlertRuleIn],
                     user: UserDep, runtime: RuntimeDep) -> AlertRule:
        """Kinds: price_at_or_below (max_price_cents), drop_percent (drop_percent or
        drop_cents, within window_seconds), deal_score_at_least (min_deal_score),
        new_listing_in_section (sections), back_in_stock (no value), new_low / near_low /
        keeps_dropping (the event's get-in price, or with sections the sections'; optional
        low_window_seconds, near_percent, drop_count). Without quiet hours of
        its own a rule takes the account's (PATCH /api/v1/account). Email always; SMS on
        premium."""
        fields = _given(data)
        fields.setdefault("channels", ["email"])
        check_rule(fields, user)
        async with runtime.pool.connection() as conn, conn.transaction():
            await reserve_slot(conn, user, "alert_rules")
            await store.check_rule_targets(conn, user.user_id, fields)
            rule = _rule(await store.create_rule(conn, user.user_id, fields))
        await record(request, "rule_created")
        return rule

    @get("/{rule_id:int}", summary="One of your alert rules")
    async def get_rule(self, rule_id: RuleId, user: UserDep, runtime: RuntimeDep,
                       reads: ReadsDep) -> AlertRule:
        async with reads.connection() as conn:
            return _rule(await store.get_rule(conn, user.user_id, rule_id))

    @patch("/{rule_id:int}", summary="Change an alert rule (only the fields sent)")
    async def update(self, rule_id: RuleId, data: JSONBody[AlertRulePatch], user: UserDep,
                     runtime: RuntimeDep) -> AlertRule:
        fields = _given(data)
        check_common(fields, user)
        async with runtime.pool.connection() as conn:
            if ("quiet_start" in fields) != ("quiet_end" in fields):
                current = await store.get_rule(conn, user.user_id, rule_id)
                start = fields.get("quiet_start", current.quiet_start)
                end = fields.get("quiet_end", current.quiet_end)
                if (start is None) != (end is None):
                    raise InvalidInput("Quiet hours need both quiet_start and quiet_end",
                                       errors=[{"field": "quiet_end",
                                                "message": "set both or neither"}])
            if len(fields.get("sections") or ()) > 1:  # keeps_dropping takes one
                check_get_in((await store.get_rule(conn, user.user_id, rule_id)).kind, fields)
            return _rule(await store.update_rule(conn, user.user_id, rule_id, fields))

    @delete("/{rule_id:int}", status_code=HTTP_204_NO_CONTENT, summary="Delete an alert rule")
    async def remove(self, rule_id: RuleId, user: UserDep, runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn:
            await store.delete_owned(conn, "alert_rules", user.user_id, rule_id)


class AlertHistoryController(Controller):
    path = "/alerts"
    tags = ["alerts"]

    @get("/", summary="Alerts matched for you (newest first) and their delivery status")
    async def history(self, request: Request[Any, Any, Any], user: UserDep,
                      runtime: RuntimeDep, reads: ReadsDep, limit: Limit = 50,
                      cursor: Cursor = None) -> AlertPage:
        before = id_after(cursor)
        async with reads.connection() as conn:
            rows = await alert_history.alert_page(conn, user.user_id, limit, before)
        items, nxt, link = id_page(rows, limit, "/api/v1/alerts", request.query_params)
        return AlertPage(items=[msgspec.convert(r, AlertSent, from_attributes=True)
                                for r in items], next_cursor=nxt, next=link)
