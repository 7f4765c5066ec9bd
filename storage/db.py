"""Connections: one URL resolution, plain connections, and sync pools.

Every part of the product gets its database here, so "which database" is decided in one
place: ``RIPCITY_DATABASE_URL`` when set, else the embedded server (started on demand).
Pools are created closed-or-open on purpose by the caller (actor start, CLI), never at
import; the API opens its async pool in its lifespan (``api/lib/db.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from storage.settings import StorageSettings


def resolve_database_url(settings: StorageSettings | None = None) -> str:
    """``RIPCITY_DATABASE_URL``, or start / reuse the embedded server and return its URL."""
    if settings is None:
        from storage.settings import get_storage_settings

        settings = get_storage_settings()
    if settings.database_url:
        return settings.database_url
    from storage.embedded import start_embedded

    return start_embedded(settings.data_dir, settings.embedded_pg_port,
                          host=settings.embedded_pg_host,
                          password=settings.embedded_pg_password)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for logs and ``db status``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def connect(
    url: str | None = None, *, autocommit: bool = False, **kwargs: Any
) -> psycopg.Connection:
    """A new connection to ``url`` (default: the resolved product database)."""
    return psycopg.connect(url or resolve_database_url(), autocommit=autocommit, **kwargs)


def pool(
    url: str | None = None,
    *,
    min_size: int = 1,
    max_size: int | None = None,
    open: bool = True,
    **kwargs: Any,
) -> ConnectionPool:
    """A sync pool (actors, CLI); ``max_size`` defaults to ``RIPCITY_DB_POOL_SIZE``."""
    from psycopg_pool import ConnectionPool

    return ConnectionPool(
        url or resolve_database_url(),
        min_size=min_size,
        max_size=max_size or _default_size(),
        open=open,
        name="ripcity",
        **kwargs,
    )


def _default_size() -> int:
    from storage.settings import get_storage_settings

    return get_storage_settings().db_pool_size
