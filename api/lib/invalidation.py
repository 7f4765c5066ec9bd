"""Keep reads fresh after ingest: PostgreSQL LISTEN/NOTIFY drives summaries and the cache.

Every write to ``listings_current`` notifies the event ids it touched
(``storage.listings.listen_for_changes``). Each API process listens on its own
connection; for each notification it recomputes those events' search summaries
(``storage.events.refresh_summaries``) and then drops the cached responses tagged with
them (and the cross-event lists). On (re)connect it refreshes every summary, since
notifications sent while it was away are lost. The listener reconnects with backoff;
while it is down, cached entries still expire by their TTL.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import psycopg
from redis.exceptions import RedisError

from api.lib.cache import ALL_EVENTS_TAG, event_tag
from storage.events import refresh_summaries
from storage.listings import changed_event_ids, listen_for_changes

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from api.lib.cache import ResponseCache

logger = logging.getLogger(__name__)


def tags_for(ids: list[int]) -> list[str]:
    return [*(event_tag(i) for i in ids), ALL_EVENTS_TAG]


async def _invalidate(cache: ResponseCache, tags: list[str]) -> None:
    try:
        await cache.invalidate(tags)
    except (RedisError, OSError) as err:  # entries still expire by their TTL
        logger.warning("cache invalidation skipped, Redis unreachable: %s", err)


async def listen_for_ingest(db_url: str, pool: AsyncConnectionPool, cache: ResponseCache,
                            ready: asyncio.Event | None = None) -> None:
    """Run until cancelled: refresh summaries and invalidate cache tags on ingest."""
    delay = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
                await listen_for_changes(conn)
                async with pool.connection() as work:
                    n = await refresh_summaries(work, None)
                logger.debug("refreshed %d event summaries after (re)connecting", n)
                await _invalidate(cache, [ALL_EVENTS_TAG])
                delay = 0.5
                if ready is not None:
                    ready.set()
                async for note in conn.notifies():
                    ids = changed_event_ids(note.payload)
                    if ids:
                        async with pool.connection() as work:
                            await refresh_summaries(work, ids)
                    await _invalidate(cache, tags_for(ids))
        except asyncio.CancelledError:
            raise
        except (psycopg.Error, OSError) as err:
            logger.warning("ingest listener lost the database (%s); reconnecting in %.1f s",
                           err, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
