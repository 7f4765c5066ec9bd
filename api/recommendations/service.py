"""The caller's picks (written by the engine's maintenance loop from their watchlists,
rules, saved searches, events opened and buy links followed), else the cold start: the
popular events of their city. Shared by the REST endpoint and the home page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storage import recommendations as store

if TYPE_CHECKING:
    from psycopg import AsyncConnection


async def recommended(conn: AsyncConnection[Any], user_id: int | None, limit: int,
                      city: str | None = None) -> tuple[list[store.PickRow], bool, str | None]:
    """(picks, personalized, city): the user's own picks when the engine has any."""
    if user_id is not None:
        picks = await store.picks_for(conn, user_id, limit)
        if picks:
            return picks, True, city
    city = city or await store.home_city(conn, user_id)
    return await store.popular(conn, city, limit), False, city
