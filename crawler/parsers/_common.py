"""What every parser returns, and the column builder that turns listings into one Arrow batch.

Listings are appended column by column (a list per field) and become one
``pa.RecordBatch`` at the end: no per-listing dict or object survives the parse.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from crawler import normalize
from storage.records import LISTING_SCHEMA, EventRecord, PriceStats, Reject

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["ListingColumns", "PageInfo", "ParseError", "Parsed", "load_json", "now_utc"]

_RAW_LIMIT = 2000
# Arrow scalars made once: a Python scalar argument costs a failed import per compute call
_HUNDRED = pa.scalar(100.0)
_EPSILON = pa.scalar(1e-7)
_ZERO = pa.scalar(0, pa.int64())
_EMPTY = pa.scalar("", pa.string())
_NO_TEXT = pa.scalar(None, pa.string())
_USD = pa.scalar("USD", pa.string())
_FALSE = pa.scalar(False)
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
    whole columns with Arrow (exact integer cents, normalised sections and rows via the
    distinct values only), quarantines the invalid rows with their reason and fragment,
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
        """The valid listings as one batch; invalid ones are added to ``rejects``."""
        c = self.cols
        n = len(self.raws)
        cents = _cents if self.money == "dollars" else _minor_units
        price, fees, total = cents(c["price_cents"]), cents(c["fees_cents"]), \
            cents(c["total_cents"])
        # what the API left out but the other two imply
        fees = pc.if_else(pc.is_null(fees), pc.subtract(total, price), fees)
        total = pc.if_else(pc.is_null(total), pc.add(price, fees), total)
        price = pc.if_else(pc.is_null(price), pc.subtract(total, fees), price)
        ids, events = _strings(c["listing_id"]), _strings(c["source_event_id"])
        section = _mapped(c["section"], normalize.section)
        quantity = _ints(c["quantity"])
        currency = pc.fill_null(pc.utf8_upper(_strings(c["currency"])), _USD)
        checks = [
            ("missing listing id", pc.or_kleene(pc.is_null(ids), pc.equal(ids, _EMPTY))),
            ("missing event id", pc.or_kleene(pc.is_null(events), pc.equal(events, _EMPTY))),
            ("missing price", pc.is_null(total)),
            ("negative price", pc.or_kleene(pc.or_kleene(pc.less(total, _ZERO),
                                                         pc.less(price, _ZERO)),
                                            pc.less(fees, _ZERO))),
            ("negative quantity", pc.less(quantity, _ZERO)),
        ]
        if self.need_section:
            checks.append(("unknown section", pc.or_kleene(pc.is_null(section),
                                                           pc.equal(section, _EMPTY))))
        bad = None
        for _reason, mask in checks:
            mask = pc.fill_null(mask, _FALSE)
            bad = mask if bad is None else pc.or_(bad, mask)
        arrays = [
            pa.repeat(pa.scalar(self._observed_at, LISTING_SCHEMA.field("observed_at").type), n),
            pa.repeat(pa.scalar(self.marketplace, pa.string()), n),
            ids, events, pc.if_else(pc.equal(section, _EMPTY), _NO_TEXT, section),
            _mapped(c["row"], normalize.row), pa.array(c["seats"], pa.string()),
            pc.cast(quantity, pa.int32()), pa.array(c["splits"], pa.string()),
            price, fees, total, currency, pa.array(c["delivery"], pa.string()),
            pa.array(c["kind"], pa.string()), _strings(c["zone"]),
        ]
        batch = pa.RecordBatch.from_arrays(arrays, schema=LISTING_SCHEMA)
        if bad is None or not pc.any(bad).as_py():
            return batch
        masks = [(reason, pc.fill_null(mask, _FALSE).to_pylist()) for reason, mask in checks]
        for i in pc.indices_nonzero(bad).to_pylist():
            reason = next(r for r, m in masks if m[i])
            self.reject(reason, self.raws[i])
        return batch.filter(pc.invert(bad))


def _cents(values: list[Any]) -> pa.Array:
    """Dollar amounts -> int64 cents, exactly: vectorised for numbers, Decimal otherwise."""
    try:
        arr = pa.array(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.array([normalize.to_cents(v) for v in values], pa.int64())
    scaled = pc.multiply(arr, _HUNDRED)
    rounded = pc.round(scaled)
    off = pc.fill_null(pc.greater(pc.abs(pc.subtract(scaled, rounded)), _EPSILON), _FALSE)
    if pc.any(off).as_py():  # more than two decimals: round those exactly, half up
        return pa.array([normalize.to_cents(v) for v in values], pa.int64())
    finite = pc.is_finite(arr)
    if not pc.all(pc.fill_null(finite, _TRUE)).as_py():
        return pa.array([normalize.to_cents(v) for v in values], pa.int64())
    return pc.cast(rounded, pa.int64())


def _minor_units(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.array([normalize.to_int(v) for v in values], pa.int64())


def _ints(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array([normalize.to_int(v) for v in values], pa.int64())


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
