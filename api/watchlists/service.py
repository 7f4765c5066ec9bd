"""The plan limit on what a user keeps, shared by the REST endpoints and the dashboard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api.plans import UPGRADE_PATH
from storage import watchlists as store

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from api.lib.principals import Principal
    from storage.watchlists import Owned


async def reserve_slot(conn: AsyncConnection[Any], user: Principal, table: Owned) -> None:
    """Inside the caller's transaction: room for one more watchlist entry, alert rule or
    saved search on the user's plan (creations by one user are serialised), or a plan-limit
    problem."""
    allowed = {"watchlists": user.plan.max_watchlists,
               "alert_rules": user.plan.max_alert_rules,
               "saved_searches": user.plan.max_saved_searches}[table]
    await store.reserve_slot(conn, user.user_id, table, allowed=allowed, plan=user.plan.name,
                             upgrade_url=UPGRADE_PATH)
