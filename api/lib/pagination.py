"""Opaque keyset cursors: stable under inserts, every row served exactly once.

A cursor encodes the sort key and id of the last row served; the next page continues
strictly after it in the same order, so rows inserted meanwhile never shift a page. Lists
ordered by id alone (a user's watchlist, rules, alerts) use :func:`id_after` and
:func:`id_page`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

import msgspec

from api.lib.errors import InvalidInput


class _Keyed(Protocol):
    @property
    def id(self) -> int: ...


T = TypeVar("T", bound=_Keyed)


def encode_cursor(*values: Any) -> str:
    raw = msgspec.json.encode(list(values))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The values in ``cursor``; ``InvalidInput`` naming the field if it is not ours."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput("cursor is not a cursor this API issued: pass the `next_cursor` "
                           "value of the previous page unchanged, or omit it for page one")
    return values


def next_link(path: str, params: dict[str, Any], cursor: str | None) -> str | None:
    """The URL of the next page (same filters, new cursor), or None on the last page."""
    if cursor is None:
        return None
    query = {k: v for k, v in params.items() if v is not None and k != "cursor"}
    query["cursor"] = cursor
    return f"{path}?{urlencode(query, doseq=True)}"


def id_after(cursor: str | None) -> int | None:
    """The row id an id-keyed cursor (:func:`id_page`) continues from, or None for page one."""
    after = decode_cursor(cursor, 1)
    if after is not None and not isinstance(after[0], int):
        raise InvalidInput("cursor is not a cursor this API issued")
    return after[0] if after else None


def id_page(rows: Sequence[T], limit: int, path: str,
            params: Mapping[str, Any]) -> tuple[Sequence[T], str | None, str | None]:
    """Split ``limit`` + 1 rows keyed by ``id`` into (this page, next cursor, next link)."""
    cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], cursor, next_link(path, dict(params), cursor)
