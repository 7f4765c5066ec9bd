"""Watchlists and alerts: create, edit and delete rules (from an event page or here), and
the alert history with each message's delivery status.

Rules are checked by the same code as ``POST /api/v1/alert-rules`` (:mod:`api.alerts.rules`
and the plan limits), then written through :mod:`storage.watchlists`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_args

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.alerts.rules import NEEDS, check_common, check_get_in, check_rule
from api.alerts.schemas import RuleKind
from api.lib.analytics import record
from api.lib.errors import ApiError
from api.lib.replicas import reads_of
from api.watchlists.service import reserve_slot
from api.web.common import Form, need_user, page, read_form, redirect, runtime_of, safe_next
from api.web.failures import REFUSED, refusal
from api.web.forms import RuleForm, WatchForm, decode_form, money, number
from storage import accounts, alert_history
from storage import watchlists as store

#: Every kind the matcher supports, as the REST API's ``RuleKind`` lists them.
_KINDS: tuple[str, ...] = get_args(get_args(RuleKind)[0])


#: What the dashboard asks for when a kind's value is missing (the REST names the fields).
_ASK = {"price_at_or_below": "Enter a price in dollars",
        "drop_percent": "Enter a drop in percent or in dollars (and, if you like, the window "
                        "in hours; one day by default)",
        "deal_score_at_least": "Enter a deal score from 0 to 100",
        "new_listing_in_section": "Enter one or more sections, separated by commas"}


def _rule_fields(form: Form, *, creating: bool) -> dict[str, Any]:
    """The typed form -> the fields the REST API takes (only those given)."""
    rf = decode_form(form, RuleForm, lists=("channels",))
    fields: dict[str, Any] = {}
    kind = rf.kind or ("price_at_or_below" if creating else "")
    if creating:
        if kind not in _KINDS:
            raise ApiError(f"Unknown alert kind {kind[:40]!r}: choose one of "
                           f"{', '.join(_KINDS)}.")
        fields["kind"] = kind
        for target in ("event_id", "venue_id", "watchlist_id"):
            if getattr(rf, target) is not None:
                fields[target] = getattr(rf, target)
        if rf.performer:
            fields["performer"] = rf.performer[:100]
    value = rf.value  # one box whose meaning follows the kind
    if value and kind == "price_at_or_below":
        fields["max_price_cents"] = money(value, "The price")
    elif value and kind == "drop_percent":
        fields["drop_percent"] = number(value, "The drop", 0.1, 100)
    elif value and kind == "deal_score_at_least":
        fields["min_deal_score"] = number(value, "The deal score", 0, 100)
    if rf.max_price:
        fields["max_price_cents"] = money(rf.max_price, "The price")
    if rf.drop_percent is not None:
        fields["drop_percent"] = rf.drop_percent
    if rf.drop_dollars:
        fields["drop_cents"] = money(rf.drop_dollars, "The drop in dollars")
        if not fields["drop_cents"]:
            raise ApiError("The drop in dollars must be more than $0.")
    if rf.window_hours is not None:
        fields["window_seconds"] = round(rf.window_hours * 3600)
    if rf.low_window_days is not None:
        fields["low_window_seconds"] = round(rf.low_window_days * 86_400)
    if rf.near_percent is not None:
        fields["near_percent"] = rf.near_percent
    if rf.drop_count is not None:
        fields["drop_count"] = rf.drop_count
    if rf.min_deal_score is not None:
        fields["min_deal_score"] = rf.min_deal_score
    if rf.sections:
        fields["sections"] = [s.strip().upper()[:40] for s in rf.sections.split(",")
                              if s.strip()][:50]
    if rf.quantity is not None:
        fields["quantity"] = rf.quantity
    if rf.channels or creating:
        fields["channels"] = [c for c in rf.channels
                              if c in ("email", "sms", "webhook")] or ["email"]
    if not creating and rf.active:
        fields["active"] = rf.active == "on"
    if creating and kind in _ASK and not any(fields.get(n) for n in NEEDS[kind]):
        raise ApiError(f"{_ASK[kind]} (the {kind.replace('_', ' ')} alert needs it).")
    return fields


class AlertPages(Controller):
    include_in_schema = False

    @get("/alerts", name="web:alerts")
    async def alerts(self, request: Request[Any, Any, Any]) -> Template:
        user = need_user(request)
        async with reads_of(request).connection() as conn:
            rules = await store.list_rules(conn, user.user_id, 200, None)
            watches = await store.list_watchlists(conn, user.user_id, 200, None)
            history = await alert_history.recent_alerts(conn, user.user_id, 50)
            channels = await accounts.channel_states(conn, user.user_id)
            ids = {r.event_id for r in [*rules, *watches] if r.event_id}
            names = await store.event_names(conn, sorted(ids))
        # the page describes rules with fmt.rule_text, which reads a mapping
        return page(request, "alerts.html", title="Watchlist & alerts",
                    rules=[dataclasses.asdict(r) for r in rules], watches=watches,
                    history=history, names=names, channels=channels)

    @post("/alerts/rules")
    async def create_rule(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request)
        user = need_user(request)
        back = safe_next(form.get("back"), "/alerts")
        try:
            fields = _rule_fields(form, creating=True)
            check_rule(fields, user)
            async with runtime_of(request).pool.connection() as conn, conn.transaction():
                await reserve_slot(conn, user, "alert_rules")
                await store.check_rule_targets(conn, user.user_id, fields)
                await store.create_rule(conn, user.user_id, fields)
        except REFUSED as err:
            return redirect(back, refusal(err), error=True)
        await record(request, "rule_created")
        return redirect(back, "Alert created: we will email you when it matches.")

    @post("/alerts/rules/{rule_id:int}")
    async def update_rule(self, request: Request[Any, Any, Any],
                          rule_id: FromPath[int]) -> Redirect:
        form = await read_form(request)
        user = need_user(request)
        try:
            fields = _rule_fields(form, creating=False)
            if "active" not in fields:
                fields["active"] = False  # an unticked checkbox is not sent
            check_common(fields, user)
            async with runtime_of(request).pool.connection() as conn:
                if len(fields.get("sections") or ()) > 1:  # keeps_dropping takes one
                    rule = await store.get_rule(conn, user.user_id, rule_id)
                    check_get_in(rule.kind, fields)
                await store.update_rule(conn, user.user_id, rule_id, fields)
        except REFUSED as err:
            return redirect("/alerts", refusal(err), error=True)
        return redirect("/alerts", "Alert updated.")

    @post("/alerts/rules/{rule_id:int}/delete")
    async def delete_rule(self, request: Request[Any, Any, Any],
                          rule_id: FromPath[int]) -> Redirect:
        return await _delete(request, "alert_rules", rule_id, "Alert deleted.")

    @post("/watchlists")
    async def watch(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request)
        user = need_user(request)
        back = safe_next(form.get("back"), "/alerts")
        try:
            wf = decode_form(form, WatchForm)
            fields: dict[str, Any] = {"kind": wf.kind, "event_id": None, "venue_id": None,
                                      "performer": None, "note": (wf.note or "")[:500] or None}
            if wf.kind == "performer" and wf.performer:
                fields["performer"] = wf.performer[:100]
            elif wf.kind in ("event", "venue") and getattr(wf, f"{wf.kind}_id") is not None:
                fields[f"{wf.kind}_id"] = getattr(wf, f"{wf.kind}_id")
            else:
                raise ApiError("Say what to watch: an event, a performer or a venue.")
            async with runtime_of(request).pool.connection() as conn, conn.transaction():
                await reserve_slot(conn, user, "watchlists")
                await store.create_watchlist(conn, user.user_id, **fields)
        except REFUSED as err:
            return redirect(back, refusal(err), error=True)
        return redirect(back, "Added to your watchlist.")

    @post("/watchlists/{watch_id:int}/delete")
    async def unwatch(self, request: Request[Any, Any, Any],
                      watch_id: FromPath[int]) -> Redirect:
        return await _delete(request, "watchlists", watch_id,
                             "Removed from your watchlist (its alerts too).")


async def _delete(request: Request[Any, Any, Any], table: store.Owned, ident: int,
                  done: str) -> Redirect:
    """Delete one of the user's rules or watchlist entries, back to the alerts page."""
    await read_form(request)
    user = need_user(request)
    try:
        async with runtime_of(request).pool.connection() as conn:
            await store.delete_owned(conn, table, user.user_id, ident)
    except REFUSED as err:
        return redirect("/alerts", refusal(err), error=True)
    return redirect("/alerts", done)
