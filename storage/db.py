"""Connections: one URL resolution, plain connections, and sync pools.

Every part of the product gets its database here, so "which database" is decided in one
place: ``RIPCITY_DATABASE_URL`` when set, else the embedded server (started on demand).
Pools are created closed-or-open on purpose by the caller (actor start, CLI), never at
import; the API opens its async pool in its lifespan (``api/lib/db.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.rows import class_row

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from psycopg.cursor import BaseCursor
    from psycopg_pool import ConnectionPool

    from storage.settings import StorageSettings


T = TypeVar("T")


@functools.cache  # one factory per class: finding the fields costs more than a row
def record_row(cls: type[T]) -> Callable[[BaseCursor[Any, Any]], Callable[[Sequence[Any]], T]]:
    """psycopg's ``class_row`` for the dataclasses storage returns, built by position.

    The columns are matched to the fields by name once per column layout, not once per row,
    and each row becomes the dataclass without a keyword dict: for a page of listings (23
    fields) ``class_row`` took a quarter of an uncached listings request's CPU (py-spy under
    ``bench.api``). A result whose columns are not exactly the fields (some left to their
    defaults, or not a plain dataclass) is built by keyword, as ``class_row`` does.
    """
    fields = _positional_fields(cls)
    by_name = class_row(cls)
    makers: dict[tuple[bytes | None, ...], Callable[[Sequence[Any]], T] | None] = {}

    def factory(cursor: BaseCursor[Any, Any]) -> Callable[[Sequence[Any]], T]:
        res = cursor.pgresult
        if fields is None or res is None:
            return by_name(cursor)
        names = tuple(res.fname(i) for i in range(res.nfields))
        if names not in makers:
            makers[names] = _by_position(cls, fields, names)
        return makers[names] or by_name(cursor)

    return factory


def _by_position(cls: type[T], fields: tuple[bytes, ...], names: tuple[bytes | None, ...]
                 ) -> Callable[[Sequence[Any]], T] | None:
    """A row maker for columns ``names`` that are the fields in some order, else None."""
    if names == fields:
        return lambda values: cls(*values)
    if sorted(n or b"" for n in names) != sorted(fields):
        return None
    order = operator.itemgetter(*(names.index(f) for f in fields))
    if len(fields) == 1:
        return lambda values: cls(order(values))
    return lambda values: cls(*order(values))


def _positional_fields(cls: type) -> tuple[bytes, ...] | None:
    """The dataclass's fields in the order its ``__init__`` takes them by position (None:
    not a dataclass, or one with a field that cannot be passed so)."""
    if not dataclasses.is_dataclass(cls):
        return None
    fields = dataclasses.fields(cls)
    if any(not f.init or f.kw_only for f in fields):
        return None
    return tuple(f.name.encode() for f in fields)  # as the server names columns (bytes)


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
