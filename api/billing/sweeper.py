"""Grace periods end on time: a background task moves unpaid accounts back to free.

Runs inside each API process (a lifespan), every ``RIPCITY_BILLING_SWEEP_SECONDS``; the row
locks in :func:`~api.billing.subscriptions.expire_grace` make concurrent sweepers safe
and each downgrade email is sent once. Reads of a user's own subscription also sweep that
user first, so nobody sees a stale premium state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from api.billing.effects import after_commit
from api.billing.subscriptions import PlanChange, expire_grace

if TYPE_CHECKING:
    from litestar import Litestar

    from api.lib.runtime import Runtime

logger = logging.getLogger(__name__)


async def sweep(runtime: Runtime, *, user_id: int | None = None,
                now: datetime | None = None) -> list[PlanChange]:
    """Expire ended grace periods (all, or one user's), then notify; returns the changes."""
    async with runtime.pool.connection() as conn, conn.transaction():
        changes = await expire_grace(conn, now or datetime.now(UTC), user_id)
    if changes:
        await after_commit(runtime, changes)
        logger.info("billing sweep: %d accounts back to free",
                    len({c.user_id for c in changes if c.kind == "downgraded"}))
    return changes


async def _loop(runtime: Runtime, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await sweep(runtime)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bad sweep must not stop the next one
            logger.exception("billing sweep failed; retrying in %.0f s", every)


@contextlib.asynccontextmanager
async def billing_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Lifespan hook: start the sweeper when billing is configured (after the pool opens)."""
    runtime: Any = app.state.runtime
    if not runtime.settings.stripe_api_key:
        yield
        return
    task = asyncio.create_task(_loop(runtime, runtime.settings.billing_sweep_seconds),
                               name="ripcity-billing-sweeper")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
