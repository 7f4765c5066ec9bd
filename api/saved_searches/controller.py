"""The caller's saved searches (CRUD), and opening one: its events now, the new ones marked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from api.events.controller import _summary
from api.lib.analytics import record
from api.lib.deps import RuntimeDep, UserDep
from api.lib.errors import InvalidInput, PlanLimit
from api.lib.pagination import (
    EVENT_CURSORS,
    decode_cursor,
    event_page,
    id_after,
    id_page,
    next_link,
)
from api.lib.params import Cursor, Limit
from api.saved_searches.schemas import (
    SavedSearch,
    SavedSearchIn,
    SavedSearchPage,
    SavedSearchPatch,
    SavedSearchResults,
)
from api.watchlists.service import reserve_slot
from storage import events as events_store
from storage import saved_searches as store

if TYPE_CHECKING:
    from api.lib.principals import Principal

SavedId = Annotated[int, Parameter(ge=1, le=2**62, description="saved search id")]
PATH = "/api/v1/saved-searches"


def to_schema(row: store.SavedSearch) -> SavedSearch:
    fields = {f: getattr(row, f) for f in SavedSearch.__struct_fields__ if f != "results_url"}
    return SavedSearch(**fields, results_url=f"{PATH}/{row.id}/events")


def check_fields(fields: dict[str, Any], user: Principal) -> None:
    """What msgspec cannot say: ranges the right way round, SMS on the plan."""
    after, before = fields.get("starts_after"), fields.get("starts_before")
    if after and before and after >= before:
        raise InvalidInput("starts_after must be earlier than starts_before",
                           errors=[{"field": "starts_before", "message": "before starts_after"}])
    lo, hi = fields.get("min_price_cents"), fields.get("max_price_cents")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInput("min_price_cents must not exceed max_price_cents",
                           errors=[{"field": "max_price_cents", "message": "below the minimum"}])
    channels = fields.get("channels")
    if channels is not None and not channels:
        raise InvalidInput("channels needs email, sms or both",
                           errors=[{"field": "channels", "message": "empty"}])
    if channels and "sms" in channels and not user.plan.sms_alerts:
        raise PlanLimit(f"SMS alerts are a premium feature (your plan: {user.plan.name}); "
                        "use email or upgrade.")


class SavedSearchController(Controller):
    path = "/saved-searches"
    tags = ["saved searches"]

    @get("/", summary="Your saved searches, with what is new since you last opened each")
    async def list_saved(self, request: Request[Any, Any, Any], user: UserDep,
                         runtime: RuntimeDep, limit: Limit = 50,
                         cursor: Cursor = None) -> SavedSearchPage:
        after = id_after(cursor)
        async with runtime.pool.connection() as conn:
            rows = await store.list_saved(conn, user.user_id, limit, after)
        items, nxt, link = id_page(rows, limit, PATH, request.query_params)
        return SavedSearchPage(items=[to_schema(r) for r in items], next_cursor=nxt, next=link)

    @post("/", summary="Save a search (the parameters of GET /api/v1/events, and alerts)")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[SavedSearchIn],
                     user: UserDep, runtime: RuntimeDep) -> SavedSearch:
        """Counts against your plan's saved searches. Alerts use the same channels,
        coalescing and quiet hours (the account's) as alert rules; SMS on premium."""
        fields = msgspec.structs.asdict(data)
        check_fields(fields, user)
        async with runtime.pool.connection() as conn, conn.transaction():
            await reserve_slot(conn, user, "saved_searches")
            saved = to_schema(await store.create_saved(conn, user.user_id, fields))
        await record(request, "saved_search_created")
        return saved

    @get("/{saved_id:int}", summary="One of your saved searches")
    async def get_saved(self, saved_id: SavedId, user: UserDep,
                        runtime: RuntimeDep) -> SavedSearch:
        async with runtime.pool.connection() as conn:
            return to_schema(await store.get_saved(conn, user.user_id, saved_id))

    @patch("/{saved_id:int}", summary="Change a saved search (only the fields sent)")
    async def update(self, saved_id: SavedId, data: JSONBody[SavedSearchPatch],
                     user: UserDep, runtime: RuntimeDep) -> SavedSearch:
        fields = {k: v for k, v in msgspec.structs.asdict(data).items()
                  if v is not msgspec.UNSET}
        for required in ("name", "quantity", "sort", "alert_new_events", "alert_listings",
                         "channels"):
            if required in fields and fields[required] is None:
                raise InvalidInput(f"{required} cannot be null",
                                   errors=[{"field": required, "message": "required"}])
        check_fields(fields, user)
        async with runtime.pool.connection() as conn:
            row = await store.update_saved(conn, user.user_id, saved_id, fields)
            merged = {"starts_after": row.starts_after, "starts_before": row.starts_before,
                      "min_price_cents": row.min_price_cents,
                      "max_price_cents": row.max_price_cents}
        check_fields(merged, user)
        return to_schema(row)

    @delete("/{saved_id:int}", status_code=HTTP_204_NO_CONTENT,
            summary="Delete a saved search")
    async def remove(self, saved_id: SavedId, user: UserDep, runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn:
            await store.delete_saved(conn, user.user_id, saved_id)

    @get("/{saved_id:int}/events", summary="Open a saved search: its events now")
    async def results(self, request: Request[Any, Any, Any], saved_id: SavedId,
                      user: UserDep, runtime: RuntimeDep, limit: Limit = 50,
                      cursor: Cursor = None) -> SavedSearchResults:
        """The events the search finds now in its sort order; ``new_event_ids`` were stored
        since you last opened it. Opening the first page marks it looked at."""
        async with runtime.pool.connection() as conn:
            saved = await store.get_saved(conn, user.user_id, saved_id)
            cursor_at = decode_cursor(cursor, EVENT_CURSORS[saved.sort])
            after = cursor_at.values() if cursor_at else None
            rows = await events_store.search_events(conn, saved.event_filter(), saved.sort,
                                                    limit, after)
            rows, nxt = event_page(rows, limit)
            new_ids = await store.new_event_ids(conn, user.user_id, saved_id,
                                                [r.id for r in rows])
            if after is None:
                await store.mark_viewed(conn, user.user_id, saved_id)
        return SavedSearchResults(
            saved_search=to_schema(saved), items=[_summary(r) for r in rows],
            new_event_ids=new_ids, next_cursor=nxt,
            next=next_link(f"{PATH}/{saved_id}/events", dict(request.query_params), nxt))
