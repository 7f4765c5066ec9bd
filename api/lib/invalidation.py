"""Drop cached responses when the engine ingests listings (PostgreSQL LISTEN/NOTIFY).

Migration ``0100_api_cache_notify.sql`` makes every write to ``listings_current`` send
``NOTIFY ripcity_listings, '<event ids>'``; each API process listens on its own
connection and invalidates the cache tags of those events (and of cross-event lists).
The listener reconnects with backoff; while it is down, entries still expire by TTL.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import psycopg

from api.lib.cache import ALL_EVENTS_TAG, event_tag

if TYPE_CHECKING:
    from api.lib.cache import ResponseCache

logger = logging.getLogger(__name__)

CHANNEL = "ripcity_listings"


def tags_for(payload: str) -> list[str]:
    ids = [p for p in payload.replace(" ", "").split(",") if p.isdigit()]
    return [*(event_tag(i) for i in ids), ALL_EVENTS_TAG]


async def listen_for_ingest(db_url: str, cache: ResponseCache,
                            ready: asyncio.Event | None = None) -> None:
    """Run until cancelled: invalidate cache tags named by ingest notifications."""
    delay = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                delay = 0.5
                if ready is not None:
                    ready.set()
                async for note in conn.notifies():
                    await cache.invalidate(tags_for(note.payload))
        except asyncio.CancelledError:
            raise
        except (psycopg.Error, OSError) as err:
            logger.warning("cache invalidation listener lost the database (%s); "
                           "reconnecting in %.1f s", err, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
