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
    """Inside the caller's transaction: room for one more watchlist entry or alert rule on
    the user's plan (creations by one user are serialised), or a plan-limit problem."""
    allowed = user.plan.max_watchlists if table == "watchlists" else user.plan.max_alert_rules
    await store.reserve_slot(conn, user.user_id, table, allowed=allowed, plan=user.plan.name,
                             upgrade_url=UPGRADE_PATH)
