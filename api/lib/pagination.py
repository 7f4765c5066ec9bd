"""Opaque keyset cursors: stable under inserts, every row served exactly once.

A cursor encodes the sort key and id of the last row served; the next page continues
strictly after it in the same order, so rows inserted meanwhile never shift a page. Each
list decodes its cursor into its own schema (a msgspec array-like Struct below): the types
and ranges are checked before any value reaches SQL, and anything else is a 422 naming
``cursor``. Lists ordered by id alone (a user's watchlist, rules, alerts) use
:class:`IdCursor` through :func:`id_after` and :func:`id_page`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import urlencode

import msgspec

from api.lib.dates import check_bounds
from api.lib.errors import FieldError, InvalidInput


class _Keyed(Protocol):
    @property
    def id(self) -> int: ...


T = TypeVar("T", bound=_Keyed)
C = TypeVar("C", bound="KeysetCursor")

#: what the columns behind the sort keys can hold (bigint, float8, real, text without NUL)
_BigInt = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_RowId = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
_Float8 = Annotated[float, msgspec.Meta(ge=-1e300, le=1e300)]
_Score = Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)]
_Text = Annotated[str, msgspec.Meta(max_length=200, pattern="^[^\x00]*$")]
_Aware = Annotated[datetime, msgspec.Meta(tz=True)]


class KeysetCursor(msgspec.Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    """The last row a page served, encoded as a JSON array in the order of the fields."""

    def values(self) -> list[Any]:
        """The fields in order, as storage's keyset query takes them."""
        return list(msgspec.structs.astuple(self))


class EventByDate(KeysetCursor):
    starts_at: _Aware
    id: _RowId

    def __post_init__(self) -> None:
        check_bounds(self.starts_at, "cursor")


class EventByPrice(KeysetCursor):
    get_in_cents: _BigInt
    id: _RowId


class EventByDeal(KeysetCursor):
    score_key: _Float8
    id: _RowId


class ListingByPrice(KeysetCursor):
    total_cents: _BigInt
    marketplace: _Text
    listing_id: _Text


class ListingByDeal(KeysetCursor):
    score_key: _Float8
    marketplace: _Text
    listing_id: _Text


class DealCursor(KeysetCursor):
    deal_score: _Score
    marketplace: _Text
    listing_id: _Text


class IdCursor(KeysetCursor):
    id: _RowId


#: the cursor of each sort order of the events search and of an event's listings
EVENT_CURSORS: dict[str, type[KeysetCursor]] = {"date": EventByDate, "price": EventByPrice,
                                          "deal": EventByDeal}
LISTING_CURSORS: dict[str, type[KeysetCursor]] = {"price": ListingByPrice, "deal": ListingByDeal}

_NOT_OURS = ("cursor is not a cursor this API issued: pass the `next_cursor` value of the "
             "previous page unchanged (with the same sort), or omit it for page one")


def encode_cursor(*values: Any) -> str:
    raw = msgspec.json.encode(list(values))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def event_page(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    """One page of an events search fetched with ``limit + 1`` rows: the page and the cursor
    of the next (its last row's sort key and id), or None on the last page."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    key = rows[-1].sort_key
    return rows, encode_cursor(key.isoformat() if hasattr(key, "isoformat") else key,
                               rows[-1].id)


def decode_cursor(cursor: str | None, schema: type[C]) -> C | None:
    """``cursor`` decoded into ``schema``; a 422 naming the field if it is not one of ours."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=schema)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        why = str(exc) if isinstance(exc, msgspec.ValidationError) else "not valid base64 JSON"
        raise InvalidInput(_NOT_OURS, errors=[FieldError(
            field="cursor", message=f"not a cursor of this list ({why})",
            source="query")]) from None


def next_link(path: str, params: dict[str, Any], cursor: str | None) -> str | None:
    """The URL of the next page (same filters, new cursor), or None on the last page."""
    if cursor is None:
        return None
    query = {k: v for k, v in params.items() if v is not None and k != "cursor"}
    query["cursor"] = cursor
    return f"{path}?{urlencode(query, doseq=True)}"


def id_after(cursor: str | None) -> int | None:
    """The row id an id-keyed cursor (:func:`id_page`) continues from, or None for page one."""
    after = decode_cursor(cursor, IdCursor)
    return after.id if after else None


def id_page(rows: Sequence[T], limit: int, path: str,
            params: Mapping[str, Any]) -> tuple[Sequence[T], str | None, str | None]:
    """Split ``limit`` + 1 rows keyed by ``id`` into (this page, next cursor, next link)."""
    cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], cursor, next_link(path, dict(params), cursor)
