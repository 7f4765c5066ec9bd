"""The caller's watchlist: events, performers and venues they follow."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from api.lib.deps import RuntimeDep, UserDep
from api.lib.errors import InvalidInput
from api.lib.pagination import decode_cursor, encode_cursor, next_link
from api.lib.params import Cursor, Limit
from api.schemas.accounts import Watchlist, WatchlistIn, WatchlistPage, WatchlistPatch
from api.services import owned as svc

WatchId = Annotated[int, Parameter(ge=1, le=2**62, description="watchlist entry id")]
_TARGET = {"event": "event_id", "performer": "performer", "venue": "venue_id"}


def owned_page_after(cursor: str | None) -> int | None:
    after = decode_cursor(cursor, 1)
    if after is not None and not isinstance(after[0], int):
        raise InvalidInput("cursor is not a cursor this API issued")
    return after[0] if after else None


class WatchlistController(Controller):
    path = "/watchlists"
    tags = ["watchlists"]

    @get("/", summary="Your watchlist entries")
    async def list_entries(self, request: Request[Any, Any, Any], user: UserDep,
                           runtime: RuntimeDep, limit: Limit = 50,
                           cursor: Cursor = None) -> WatchlistPage:
        after = owned_page_after(cursor)
        async with runtime.pool.connection() as conn:
            rows = await svc.list_watchlists(conn, user.user_id, limit, after)
        nxt = encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
        return WatchlistPage(items=[Watchlist(**r) for r in rows[:limit]], next_cursor=nxt,
                             next=next_link("/api/v1/watchlists", dict(request.query_params), nxt))

    @post("/", summary="Watch an event, a performer or a venue")
    async def create(self, data: JSONBody[WatchlistIn],
                     user: UserDep, runtime: RuntimeDep) -> Watchlist:
        target = _TARGET[data.kind]
        given = [f for f in _TARGET.values() if getattr(data, f) is not None]
        if given != [target]:
            raise InvalidInput(f"A {data.kind} watchlist entry needs {target} and none of the "
                               "other targets", errors=[{"field": target,
                                                         "message": f"required for {data.kind}"}])
        fields = {"kind": data.kind, "event_id": data.event_id, "venue_id": data.venue_id,
                  "performer": data.performer.strip() if data.performer else None,
                  "note": data.note}
        async with runtime.pool.connection() as conn, conn.transaction():
            await svc.reserve_slot(conn, user, "watchlists")
            return Watchlist(**await svc.create_watchlist(conn, user.user_id, fields))

    @get("/{watchlist_id:int}", summary="One of your watchlist entries")
    async def get_entry(self, watchlist_id: WatchId, user: UserDep,
                        runtime: RuntimeDep) -> Watchlist:
        async with runtime.pool.connection() as conn:
            return Watchlist(**await svc.get_watchlist(conn, user.user_id, watchlist_id))

    @patch("/{watchlist_id:int}", summary="Change the note of a watchlist entry")
    async def update(self, watchlist_id: WatchId, data: JSONBody[WatchlistPatch], user: UserDep,
                     runtime: RuntimeDep) -> Watchlist:
        async with runtime.pool.connection() as conn:
            return Watchlist(**await svc.update_watchlist(conn, user.user_id, watchlist_id,
                                                          data.note))

    @delete("/{watchlist_id:int}", status_code=HTTP_204_NO_CONTENT,
            summary="Stop watching (its alert rules go too)")
    async def remove(self, watchlist_id: WatchId, user: UserDep, runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn:
            await svc.delete_owned(conn, "watchlists", user.user_id, watchlist_id)
