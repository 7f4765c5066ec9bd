"""The caller's watchlist: events, performers and venues they follow."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from api.lib.deps import ReadsDep, RuntimeDep, UserDep
from api.lib.errors import InvalidInput
from api.lib.pagination import id_after, id_page
from api.lib.params import Cursor, Limit
from api.watchlists.schemas import Watchlist, WatchlistIn, WatchlistPage, WatchlistPatch
from api.watchlists.service import reserve_slot
from storage import watchlists as store

WatchId = Annotated[int, Parameter(ge=1, le=2**62, description="watchlist entry id")]
_TARGET = {"event": "event_id", "performer": "performer", "venue": "venue_id"}


def _watchlist(row: store.Watchlist) -> Watchlist:
    return msgspec.convert(row, Watchlist, from_attributes=True)


class WatchlistController(Controller):
    path = "/watchlists"
    tags = ["watchlists"]

    @get("/", summary="Your watchlist entries")
    async def list_entries(self, request: Request[Any, Any, Any], user: UserDep,
                           runtime: RuntimeDep, reads: ReadsDep, limit: Limit = 50,
                           cursor: Cursor = None) -> WatchlistPage:
        after = id_after(cursor)
        async with reads.connection() as conn:
            rows = await store.list_watchlists(conn, user.user_id, limit, after)
        items, nxt, link = id_page(rows, limit, "/api/v1/watchlists", request.query_params)
        return WatchlistPage(items=[_watchlist(r) for r in items], next_cursor=nxt, next=link)

    @post("/", summary="Watch an event, a performer or a venue")
    async def create(self, data: JSONBody[WatchlistIn],
                     user: UserDep, runtime: RuntimeDep) -> Watchlist:
        target = _TARGET[data.kind]
        given = [f for f in _TARGET.values() if getattr(data, f) is not None]
        if given != [target]:
            raise InvalidInput(f"A {data.kind} watchlist entry needs {target} and none of the "
                               "other targets", errors=[{"field": target,
                                                         "message": f"required for {data.kind}"}])
        async with runtime.pool.connection() as conn, conn.transaction():
            await reserve_slot(conn, user, "watchlists")
            return _watchlist(await store.create_watchlist(
                conn, user.user_id, kind=data.kind, event_id=data.event_id,
                venue_id=data.venue_id,
                performer=data.performer.strip() if data.performer else None, note=data.note))

    @get("/{watchlist_id:int}", summary="One of your watchlist entries")
    async def get_entry(self, watchlist_id: WatchId, user: UserDep,
                        runtime: RuntimeDep, reads: ReadsDep) -> Watchlist:
        async with reads.connection() as conn:
            return _watchlist(await store.get_watchlist(conn, user.user_id, watchlist_id))

    @patch("/{watchlist_id:int}", summary="Change the note of a watchlist entry")
    async def update(self, watchlist_id: WatchId, data: JSONBody[WatchlistPatch], user: UserDep,
                     runtime: RuntimeDep) -> Watchlist:
        async with runtime.pool.connection() as conn:
            return _watchlist(await store.update_watchlist_note(conn, user.user_id, watchlist_id,
                                                                data.note))

    @delete("/{watchlist_id:int}", status_code=HTTP_204_NO_CONTENT,
            summary="Stop watching (its alert rules go too)")
    async def remove(self, watchlist_id: WatchId, user: UserDep, runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn:
            await store.delete_owned(conn, "watchlists", user.user_id, watchlist_id)
