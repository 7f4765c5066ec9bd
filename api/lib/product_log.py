"""Product events recorded after their response (REST searches), kept in memory and
written to PostgreSQL in batches by a background task of the app's lifespan, so the request
that produced them does no database write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from storage.analytics import ProductEvent, record_events

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger(__name__)


class ProductLog:
    """Product events recorded after their response, kept in memory and written in batches
    by :meth:`run` (every ``flush_s`` or sooner when ``batch`` are waiting); at most
    ``limit`` wait (more are dropped and logged: analytics never slows the API down)."""

    def __init__(self, flush_s: float = 1.0, batch: int = 500, limit: int = 20_000) -> None:
        self.flush_s, self.batch, self.limit = flush_s, batch, limit
        self._pending: list[ProductEvent] = []
        self._full = asyncio.Event()
        self.dropped = 0

    def add(self, event: ProductEvent) -> None:
        if len(self._pending) >= self.limit:
            self.dropped += 1
            return
        self._pending.append(event)
        if len(self._pending) >= self.batch:
            self._full.set()

    async def flush(self, pool: AsyncConnectionPool) -> int:
        """Write what is waiting now; how many were stored."""
        events, self._pending = self._pending, []
        self._full.clear()
        if not events:
            return 0
        try:
            async with pool.connection() as conn:
                return await record_events(conn, events)
        except Exception as err:  # a pool timeout, a closed pool
            logger.warning("analytics: %(n)d events not stored: %(err)s",
                           {"n": len(events), "err": err})
            return 0

    async def run(self, pool: AsyncConnectionPool) -> None:
        """Flush until cancelled, then once more (what arrived up to the end is kept)."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.flush_s)
                await self.flush(pool)
        finally:
            await asyncio.shield(self.flush(pool))
