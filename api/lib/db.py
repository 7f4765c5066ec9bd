"""The database pool: opened in the lifespan, lent to handlers per use.

Reads run in autocommit (one statement, no transaction bookkeeping); writes open an
explicit ``conn.transaction()``. The URL is the one given to the app factory, else the
storage layer's resolution of the settings (which starts the embedded server when no
``RIPCITY_DATABASE_URL`` is set).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from psycopg_pool import AsyncConnectionPool

from storage.db import resolve_database_url

if TYPE_CHECKING:
    from storage.settings import StorageSettings

logger = logging.getLogger(__name__)


def resolve_url(settings: StorageSettings, db_url: str | None) -> str:
    """The PostgreSQL URL this app talks to: ``db_url`` when given, else the settings'."""
    return db_url or resolve_database_url(settings)


async def open_pool(url: str, size: int) -> AsyncConnectionPool:
    """The app's one pool, open: autocommit connections, ``size`` at most (2 at least)."""
    pool = AsyncConnectionPool(url, min_size=min(2, size), max_size=max(2, size), open=False,
                               kwargs={"autocommit": True}, name="ripcity-api",
                               timeout=10.0)
    await pool.open(wait=True, timeout=30.0)
    return pool
