"""Saved searches on the dashboard: save the search on screen (from the home page), list
them with what is new since last looked, open one (its events, the new ones marked), change
its name and alerts, delete it.

Fields are checked by the same code as ``POST /api/v1/saved-searches``
(:func:`api.saved_searches.controller.check_fields`) and counted against the same plan limit.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.lib.analytics import record
from api.lib.errors import ApiError
from api.lib.replicas import reads_of
from api.saved_searches.controller import check_fields
from api.watchlists.service import reserve_slot
from api.web.common import Form, need_user, page, read_form, redirect, runtime_of
from api.web.failures import REFUSED, refusal
from api.web.pages_public import PACIFIC, search_cards
from storage import events as events_store
from storage import saved_searches as store

_MARKETS = ("ticketmaster", "seatgeek", "eventbrite", "stubhub")


def _day(raw: str, end: bool = False) -> datetime | None:
    if not raw:
        return None
    try:
        d = date.fromisoformat(raw)
    except ValueError:
        raise ApiError(f"{raw!r} is not a date (YYYY-MM-DD).") from None
    return datetime.combine(d + timedelta(days=1 if end else 0), time(0), PACIFIC)


def _number(raw: str, what: str, low: float, high: float) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw.replace("$", "").replace(",", ""))
    except ValueError:
        raise ApiError(f"{what} must be a number, not {raw!r}.") from None
    if not low <= value <= high:
        raise ApiError(f"{what} must be between {low:g} and {high:g}.")
    return value


def search_fields(form: Form) -> dict[str, Any]:
    """The home page's search (as its query names it) as saved-search fields."""
    mk = form.get("marketplace") or None
    if mk is not None and mk not in _MARKETS:
        raise ApiError(f"{mk!r} is not a marketplace we search.")
    max_price = _number(form.get("max"), "The price ceiling", 0, 1_000_000)
    qty = _number(form.get("qty"), "Tickets together", 1, 20)
    sort = form.get("sort") or "date"
    if sort not in ("date", "price", "deal"):
        raise ApiError("Sort by date, price or deal.")
    return {"q": form.get("q")[:100] or None, "starts_after": _day(form.get("from")),
            "starts_before": _day(form.get("to"), True),
            "category": form.get("category")[:80] or None,
            "city": form.get("city")[:80] or None, "marketplace": mk,
            "max_price_cents": None if max_price is None else round(max_price * 100),
            "quantity": int(qty or 1),
            "min_deal_score": _number(form.get("score"), "The deal score", 0, 100),
            "sort": sort}


def _alerts(form: Form) -> dict[str, Any]:
    channels = [c for c in form.all("channels") if c in ("email", "sms")] or ["email"]
    return {"alert_new_events": form.get("alert_new_events") == "on",
            "alert_listings": form.get("alert_listings") == "on", "channels": channels}


def home_query(s: store.SavedSearch) -> dict[str, Any]:
    """The home page's query string for a saved search (to refine it there)."""
    def day(value: datetime | None, end: bool = False) -> str | None:
        if value is None:
            return None
        local = value.astimezone(PACIFIC).date()
        return (local - timedelta(days=1) if end else local).isoformat()

    return {k: v for k, v in {
        "q": s.q, "from": day(s.starts_after), "to": day(s.starts_before, True),
        "category": s.category, "city": s.city, "marketplace": s.marketplace,
        "max": None if s.max_price_cents is None else f"{s.max_price_cents / 100:g}",
        "qty": s.quantity if s.quantity > 1 else None,
        "score": None if s.min_deal_score is None else f"{s.min_deal_score:g}",
        "sort": s.sort if s.sort != "date" else None}.items() if v}


class SavedSearchPages(Controller):
    include_in_schema = False

    @get("/saved-searches", name="web:saved")
    async def saved(self, request: Request[Any, Any, Any]) -> Template:
        user = need_user(request)
        async with reads_of(request).connection() as conn:
            rows = await store.list_saved(conn, user.user_id, 200, None)
        return page(request, "saved_searches.html", title="Saved searches", saved=rows,
                    queries={s.id: home_query(s) for s in rows},
                    limit=user.plan.max_saved_searches)

    @post("/saved-searches")
    async def create(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await read_form(request)
        user = need_user(request)
        try:
            fields = {**search_fields(form), **_alerts(form),
                      "name": form.get("name")[:100] or "My search"}
            check_fields(fields, user)
            async with runtime_of(request).pool.connection() as conn, conn.transaction():
                await reserve_slot(conn, user, "saved_searches")
                row = await store.create_saved(conn, user.user_id, fields)
        except REFUSED as err:
            return redirect(form.get("back") or "/saved-searches", refusal(err), error=True)
        await record(request, "saved_search_created")
        return redirect(f"/saved-searches/{row.id}", f"Saved “{row.name}”.")

    @get("/saved-searches/{saved_id:int}", name="web:saved-one")
    async def open(self, request: Request[Any, Any, Any],
                   saved_id: FromPath[int]) -> Template:
        """Its events now, those stored since the last look marked new; then marked seen."""
        user = need_user(request)
        async with runtime_of(request).pool.connection() as conn:
            s = await store.get_saved(conn, user.user_id, saved_id)
            rows = await events_store.search_events(conn, s.event_filter(), s.sort, 24, None)
            rows = rows[:24]
            cards = await search_cards(conn, rows)
            new = set(await store.new_event_ids(conn, user.user_id, saved_id,
                                                [r.id for r in rows]))
            await store.mark_viewed(conn, user.user_id, saved_id)
        for c in cards:
            c["new"] = c["id"] in new
        return page(request, "saved_search.html", title=s.name, s=s, cards=cards,
                    query=home_query(s))

    @post("/saved-searches/{saved_id:int}")
    async def update(self, request: Request[Any, Any, Any],
                     saved_id: FromPath[int]) -> Redirect:
        form = await read_form(request)
        user = need_user(request)
        back = f"/saved-searches/{saved_id}"
        try:
            fields = {**_alerts(form), "name": form.get("name")[:100] or "My search"}
            check_fields(fields, user)
            async with runtime_of(request).pool.connection() as conn:
                await store.update_saved(conn, user.user_id, saved_id, fields)
        except REFUSED as err:
            return redirect(back, refusal(err), error=True)
        return redirect(back, "Saved search updated.")

    @post("/saved-searches/{saved_id:int}/delete")
    async def delete(self, request: Request[Any, Any, Any],
                     saved_id: FromPath[int]) -> Redirect:
        await read_form(request)
        user = need_user(request)
        try:
            async with runtime_of(request).pool.connection() as conn:
                await store.delete_saved(conn, user.user_id, saved_id)
        except REFUSED as err:
            return redirect("/saved-searches", refusal(err), error=True)
        return redirect("/saved-searches", "Saved search deleted.")
