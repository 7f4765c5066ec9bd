"""What every parser returns, and the column builder that turns listings into one Arrow batch.

Listings are appended column by column (a list per field) and become one
``pa.RecordBatch`` at the end: no per-listing dict or object survives the parse.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from crawler import normalize
from storage.records import LISTING_SCHEMA, EventRecord, PriceStats, Reject

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["ListingColumns", "PageInfo", "ParseError", "Parsed", "load_json", "now_utc"]

_RAW_LIMIT = 2000
_EXACT = 1e-7  # cents off a whole number by more: more than two decimals
_LARGEST_CENTS = 10**13  # an amount of $100bn or more is refused ("price out of range")
_LARGEST_QUANTITY = 2**31 - 1  # quantity is int32 ("quantity out of range" beyond)
_INT64_MAX = 2**63 - 1
# Arrow scalars made once: a Python scalar argument costs a failed import per compute call
_EMPTY = pa.scalar("", pa.string())
_ZERO = pa.scalar(0, pa.int64())
_USD = pa.scalar("USD", pa.string())
_TRUE = pa.scalar(True)


class ParseError(ValueError):
    """The response is not the format this parser reads (the whole response is refused)."""


@dataclasses.dataclass(slots=True)
class PageInfo:
    """Where this page sits in its sequence, so a spider knows what to request next."""

    number: int | None = None  # page number as the API counts it (0- or 1-based)
    size: int | None = None
    total_items: int | None = None
    total_pages: int | None = None
    has_more: bool = False
    continuation: str | None = None
    start: int | None = None  # offset-paged APIs (StubHub)


@dataclasses.dataclass(slots=True)
class Parsed:
    """The records of one response."""

    endpoint: str  # e.g. "discovery_events", "top_picks", "listings", "ticket_classes"
    listings: pa.RecordBatch
    events: list[EventRecord] = dataclasses.field(default_factory=list)
    stats: list[PriceStats] = dataclasses.field(default_factory=list)
    rejects: list[Reject] = dataclasses.field(default_factory=list)
    page: PageInfo | None = None
    #: ids a spider may follow: organizations (Eventbrite), event ids of a listings page
    refs: list[str] = dataclasses.field(default_factory=list)


def now_utc() -> datetime:
    return datetime.now(UTC)


def load_json(body: bytes | str | Any) -> Any:
    """Parsed JSON from bytes/str (already-parsed objects pass through)."""
    if isinstance(body, bytes | bytearray | memoryview | str):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as err:
            head = bytes(body[:80]) if not isinstance(body, str) else body[:80].encode()
            raise ParseError(f"not JSON ({err}); body starts with {head!r}") from None
    return body


def raw_fragment(obj: Any) -> str:
    """A JSON fragment for a reject, truncated so one bad record cannot bloat storage."""
    try:
        text = orjson.dumps(obj, default=str).decode()
    except TypeError:
        text = repr(obj)
    return text if len(text) <= _RAW_LIMIT else text[:_RAW_LIMIT] + "..."


class ListingColumns:
    """Raw column lists for ``LISTING_SCHEMA``, converted and validated once per page.

    Parsers ``add`` one listing's raw values (money as the API gives it: dollars as
    numbers or strings, or minor units with ``money="cents"``); ``to_batch`` converts
    whole columns (exact integer cents, normalised sections and rows via the distinct
    values only), quarantines the invalid rows with their reason and fragment,
    and returns the valid ones as one batch.
    """

    __slots__ = ("_observed_at", "cols", "marketplace", "money", "need_section", "raws",
                 "rejects", "source")

    _FIELDS = ("listing_id", "source_event_id", "section", "row", "seats", "quantity", "splits",
               "price_cents", "fees_cents", "total_cents", "currency", "delivery", "kind", "zone")

    def __init__(self, marketplace: str, observed_at: datetime, source: str | None, *,
                 money: str = "dollars", need_section: bool = True) -> None:
        self.marketplace = marketplace
        self._observed_at = observed_at
        self.source = source
        self.money = money
        self.need_section = need_section
        self.rejects: list[Reject] = []
        self.raws: list[Any] = []
        self.cols: dict[str, list[Any]] = {name: [] for name in self._FIELDS}

    def reject(self, reason: str, raw: Any) -> None:
        self.rejects.append(Reject(self._observed_at, self.marketplace, self.source, reason,
                                   raw_fragment(raw)))

    def objects(self, items: Iterable[Any], what: str) -> Iterator[dict[str, Any]]:
        """The page's ``items`` that are JSON objects; each other one is refused as
        "``what`` is not an object"."""
        for item in items:
            if isinstance(item, dict):
                yield item
            else:
                self.reject(f"{what} is not an object", item)

    def add(self, raw: Any, listing_id: Any, event_id: Any, section_raw: Any, row_raw: Any,
            seats: str | None, quantity: Any, splits: str | None, price: Any, fees: Any,
            total: Any, currency: Any, delivery: str, kind: str, zone: Any) -> None:
        """Append one listing's raw values (checked later, a whole page at a time).

        ``raw`` is the marketplace's fragment, kept with the reason if it is refused.
        """
        c = self.cols
        self.raws.append(raw)
        c["listing_id"].append(listing_id)
        c["source_event_id"].append(event_id)
        c["section"].append(section_raw)
        c["row"].append(row_raw)
        c["seats"].append(seats)
        c["quantity"].append(quantity)
        c["splits"].append(splits)
        c["price_cents"].append(price)
        c["fees_cents"].append(fees)
        c["total_cents"].append(total)
        c["currency"].append(currency)
        c["delivery"].append(delivery)
        c["kind"].append(kind)
        c["zone"].append(zone)

    def extend(self, raws: list[Any], columns: dict[str, list[Any]]) -> None:
        """Append many listings at once: ``columns`` has one list per field of ``add``
        (each as long as ``raws``). A parser's column-wise path for a page whose listings
        all have the usual shape: a comprehension per field costs less than an ``add``
        call per listing."""
        self.raws.extend(raws)
        for name in self._FIELDS:
            self.cols[name].extend(columns[name])

    def __len__(self) -> int:
        return len(self.raws)

    def to_batch(self) -> pa.RecordBatch:
        """The valid listings as one batch; invalid ones are added to ``rejects``.

        A page's fixed cost matters (a page is 200-500 listings): amounts and checks are
        NumPy arrays, and Arrow's compute functions (microseconds a call) only do what
        needs strings.
        """
        c = self.cols
        n = len(self.raws)
        if not n:
            return _NO_LISTINGS
        (price, fees, total), (price_null, fees_null, total_null), too_large = _amounts(
            (c["price_cents"], c["fees_cents"], c["total_cents"]), self.money)
        # what the API left out but the other two imply
        fill = fees_null & ~total_null & ~price_null
        fees, fees_null = np.where(fill, total - price, fees), fees_null & ~fill
        fill = total_null & ~price_null & ~fees_null
        total, total_null = np.where(fill, price + fees, total), total_null & ~fill
        fill = price_null & ~total_null & ~fees_null
        price, price_null = np.where(fill, total - fees, price), price_null & ~fill
        ids, events = _strings(c["listing_id"]), _strings(c["source_event_id"])
        section = _mapped(c["section"], _known_section)
        quantity = _ints(c["quantity"])
        count, count_null = _values(quantity), _nulls(quantity)
        checks = [
            ("missing listing id", _blank(ids)),
            ("missing event id", _blank(events)),
            ("price out of range", too_large),
            ("missing price", total_null),
            ("negative price", ((total < 0) & ~total_null) | ((price < 0) & ~price_null)
             | ((fees < 0) & ~fees_null)),
            ("negative quantity", count < 0),
            ("quantity out of range", count > _LARGEST_QUANTITY),
        ]
        if self.need_section:
            checks.append(("unknown section", _nulls(section)))
        arrays = [
            pa.repeat(pa.scalar(self._observed_at, LISTING_SCHEMA.field("observed_at").type), n),
            pa.repeat(pa.scalar(self.marketplace, pa.string()), n),
            ids, events, section, _mapped(c["row"], normalize.row),
            pa.array(c["seats"], pa.string()),
            pa.array(np.clip(count, 0, _LARGEST_QUANTITY).astype(np.int32), mask=count_null),
            pa.array(c["splits"], pa.string()), pa.array(price, mask=price_null),
            pa.array(fees, mask=fees_null), pa.array(total, mask=total_null),
            _currency(c["currency"]), pa.array(c["delivery"], pa.string()),
            pa.array(c["kind"], pa.string()), _strings(c["zone"]),
        ]
        batch = pa.RecordBatch.from_arrays(arrays, schema=LISTING_SCHEMA)
        bad = np.logical_or.reduce([mask for _reason, mask in checks])
        if not bad.any():
            return batch
        for i in np.flatnonzero(bad).tolist():
            reason = next(r for r, mask in checks if mask[i])
            self.reject(reason, self.raws[i])
        return batch.filter(pa.array(~bad))


_NO_LISTINGS = pa.RecordBatch.from_pylist([], schema=LISTING_SCHEMA)


def _known_section(raw: Any) -> str | None:
    """``normalize.section``, with None for a string that names no section."""
    return normalize.section(raw) or None


def _amounts(columns: tuple[list[Any], ...], money: str
             ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Amounts in cents: each column's int64 values and null mask, and the rows where any
    amount is out of range (its value null). Dollars go in one vectorised pass over every
    column when each amount is a number with at most two decimals; otherwise each column
    on its own, exactly (``normalize.to_cents``: Decimal for strings and longer decimals).
    """
    n = len(columns[0])
    whole = _dollars([v for column in columns for v in column]) if money == "dollars" else None
    parts = [whole] if whole is not None else [_cents(column, money) for column in columns]
    cents, nulls, big = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
    nulls |= big
    return ([cents[i * n:(i + 1) * n] for i in range(len(columns))],
            [nulls[i * n:(i + 1) * n] for i in range(len(columns))],
            big.reshape(len(columns), n).any(axis=0))


def _dollars(values: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Cents, null and out-of-range masks of dollar amounts that are all numbers with at
    most two decimals; None for any other list."""
    try:
        arr = pa.array(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None
    dollars = arr.to_numpy(zero_copy_only=False)  # nulls are NaN
    if ((dollars == 1.0) | (dollars == 0.0)).any() and bool in set(map(type, values)):
        return None  # Arrow reads true as $1: the exact way calls a boolean missing
    nulls = _nulls(arr)
    with np.errstate(invalid="ignore"):
        scaled = np.where(nulls, 0.0, dollars) * 100.0
        rounded = np.round(scaled)
        if not (np.abs(scaled - rounded) <= _EXACT).all():
            return None  # more than two decimals (or not finite): exactly
    big = np.abs(rounded) >= _LARGEST_CENTS
    return np.where(big, 0.0, rounded).astype(np.int64), nulls, big


def _cents(values: list[Any], money: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One column of amounts (dollars, or minor units with ``money="cents"``) as cents,
    null and out-of-range masks."""
    if money == "dollars":
        fast = _dollars(values)
        if fast is not None:
            return fast
        exact = [normalize.to_cents(v) for v in values]
    else:
        try:
            arr = pa.array(values, pa.int64())
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            exact = [normalize.to_int(v) for v in values]
        else:
            cents = _values(arr)
            big = np.abs(cents) >= _LARGEST_CENTS
            return np.where(big, 0, cents), _nulls(arr), big
    nulls = np.array([c is None for c in exact], dtype=bool)
    big = np.array([c is not None and abs(c) >= _LARGEST_CENTS for c in exact], dtype=bool)
    return np.array([0 if c is None or abs(c) >= _LARGEST_CENTS else c for c in exact],
                    dtype=np.int64), nulls, big


def _values(arr: pa.Array) -> np.ndarray:
    """An integer array's values (0 where null)."""
    return (pc.fill_null(arr, _ZERO) if arr.null_count else arr).to_numpy(zero_copy_only=False)


def _nulls(arr: pa.Array) -> np.ndarray:
    """Where ``arr`` is null."""
    if not arr.null_count:
        return np.zeros(len(arr), dtype=bool)
    return arr.is_null().to_numpy(zero_copy_only=False)


def _blank(strings: pa.Array) -> np.ndarray:
    """Where ``strings`` is null or empty."""
    empty = pc.equal(strings, _EMPTY)
    return (pc.fill_null(empty, _TRUE) if strings.null_count else empty).to_numpy(
        zero_copy_only=False)


def _currency(values: list[Any]) -> pa.Array:
    """Upper-case currency codes, USD where missing (a page usually has one code)."""
    first = values[0]
    if type(first) is str and first.isascii() and values.count(first) == len(values):
        return pa.repeat(pa.scalar(first.upper(), pa.string()), len(values))
    return pc.fill_null(pc.utf8_upper(_strings(values)), _USD)


def _ints(values: list[Any]) -> pa.Array:
    """Integers (beyond int64: its bounds, which every check refuses)."""
    try:
        return pa.array(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array([None if (i := normalize.to_int(v)) is None
                         else min(max(i, -_INT64_MAX), _INT64_MAX) for v in values], pa.int64())


def _strings(values: list[Any]) -> pa.Array:
    """Strings from strings or numbers (ids come as either); blanks stay as given."""
    # integer ids (SeatGeek's, StubHub's) are converted by Arrow, not one by one; the type
    # is given, not inferred (inference tries to import dateutil, a failed import each page)
    if values and type(values[0]) is int and all(type(v) is int or v is None for v in values):
        try:
            return pc.cast(pa.array(values, pa.int64()), pa.string())
        except (pa.ArrowInvalid, OverflowError):
            pass
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        pass
    return pa.array([text_or_none(v) for v in values], pa.string())


def text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value).strip()


def _mapped(values: list[Any], fn: Any) -> pa.Array:
    """``fn`` applied to each distinct value only (a page repeats few sections and rows)."""
    with contextlib.suppress(TypeError):  # an unhashable value: the Arrow way below
        distinct = dict.fromkeys(values)
        if all(type(v) is str for v in distinct if v is not None):
            for v in distinct:
                distinct[v] = None if v is None else fn(v)
            return pa.array([distinct[v] for v in values], pa.string())
    encoded = _strings(values).dictionary_encode()
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.take(mapped, encoded.indices)


def dig(obj: Any, *path: str | int) -> Any:
    """``obj[a][b]...`` or None when any step is missing or of the wrong type."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(obj, list) or len(obj) <= key:
                return None
        elif not isinstance(obj, dict):
            return None
        obj = obj[key] if isinstance(key, int) else obj.get(key)
        if obj is None:
            return None
    return obj


def text(value: Any) -> str | None:
    """A stripped string, or None for missing/empty values (numbers become strings)."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    out = str(value).strip()
    return out or None
