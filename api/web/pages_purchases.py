"""Price protection on the dashboard: record a purchase, see what was seen cheaper inside
its claim window, and a printable claim page (the JSON record is
``/api/v1/purchases/{id}/evidence.json``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.alerts.rules import check_common
from api.lib.dates import EARLIEST
from api.lib.errors import ApiError
from api.lib.replicas import reads_of
from api.purchases.service import claim_record
from api.watchlists.service import reserve_slot
from api.web.common import need_user, page, read_form, redirect, runtime_of
from api.web.failures import REFUSED, refusal
from api.web.forms import PurchaseForm, decode_form, money
from storage import purchases as store

_BACK = "/purchases"


def _when(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError("Enter when you bought as a date and time.") from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    if not EARLIEST <= at <= datetime.now(UTC):
        raise ApiError("When you bought must be a date in the past.")
    return at


class PurchasePages(Controller):
    include_in_schema = False

    @get(_BACK, name="web:purchases")
    async def purchases(self, request: Request[Any, Any, Any]) -> Template:
        user = need_user(request)
        async with reads_of(request).connection() as conn:
            rows = await store.list_purchases(conn, user.user_id)
            windows = await store.claim_windows(conn)
        event = request.query_params.get("event_id", "")
        return page(request, "purchases.html", title="Price protection", purchases=rows,
                    windows=windows, event_id=event if event.isdigit() else "")

    @post(_BACK)
    async def create(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request)
        user = need_user(request)
        try:
            pf = decode_form(form, PurchaseForm, lists=("channels",))
            if pf.event_id is None:
                raise ApiError("Say which event (its number is in the event page's address).")
            paid = money(pf.price_paid, "The price paid")
            if paid <= 0:
                raise ApiError("The price paid must be more than $0.")
            fields = {"channels": [c for c in pf.channels
                                   if c in ("email", "sms", "webhook")] or ["email"]}
            check_common(fields, user)
            async with runtime_of(request).pool.connection() as conn, conn.transaction():
                await reserve_slot(conn, user, "alert_rules")
                await store.create(
                    conn, user.user_id, event_id=pf.event_id, marketplace=pf.marketplace,
                    section=pf.section or "?", row=pf.row or None, quantity=pf.quantity,
                    price_paid_cents=paid, purchased_at=_when(pf.purchased_at),
                    claim_window_seconds=round(pf.claim_window_hours * 3600)
                    if pf.claim_window_hours else None,
                    channels=fields["channels"])
        except REFUSED as err:
            return redirect(_BACK, refusal(err), error=True)
        return redirect(_BACK, "Purchase recorded: we watch for cheaper same-or-better seats "
                               "while you can still claim.")

    @post(_BACK + "/{purchase_id:int}/delete")
    async def delete(self, request: Request[Any, Any, Any],
                     purchase_id: FromPath[int]) -> Redirect:
        await read_form(request)
        user = need_user(request)
        async with runtime_of(request).pool.connection() as conn:
            await store.delete(conn, user.user_id, purchase_id)
        return redirect(_BACK, "Purchase forgotten.")

    @get(_BACK + "/{purchase_id:int}/claim", name="web:claim")
    async def claim(self, request: Request[Any, Any, Any],
                    purchase_id: FromPath[int]) -> Template:
        user = need_user(request)
        async with reads_of(request).connection() as conn:
            row, items = await store.evidence(conn, user.user_id, purchase_id)
        return page(request, "claim.html", title=f"Price-drop claim #{purchase_id}",
                    record=claim_record(row, items))
