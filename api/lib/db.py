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

if TYPE_CHECKING:
    from storage.settings import StorageSettings

logger = logging.getLogger(__name__)


def resolve_url(settings: StorageSettings, db_url: str | None) -> str:
    """The PostgreSQL URL this app talks to."""
    if db_url:
        return db_url
    if settings.database_url:
        return settings.database_url
    try:
        from storage.db import resolve_database_url
    except ImportError as err:  # pragma: no cover - storage layer not installed
        raise RuntimeError("No database configured: set RIPCITY_DATABASE_URL") from err
    url: str = resolve_database_url(settings)
    return url


async def open_pool(url: str, size: int) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(url, min_size=min(2, size), max_size=max(2, size), open=False,
                               kwargs={"autocommit": True}, name="ripcity-api",
                               timeout=10.0)
    await pool.open(wait=True, timeout=30.0)
    return pool
