"""What every parser returns, and the column builder that turns listings into one Arrow batch.

Listings are appended column by column (a list per field) and become one
``pa.RecordBatch`` at the end: no per-listing dict or object survives the parse.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from crawler import normalize
from storage.records import LISTING_SCHEMA, EventRecord, PriceStats, Reject

__all__ = ["ListingColumns", "PageInfo", "ParseError", "Parsed", "load_json", "now_utc"]

_RAW_LIMIT = 2000


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
    """Column lists for ``LISTING_SCHEMA``; ``add`` validates one listing or rejects it."""

    __slots__ = ("_observed_at", "cols", "marketplace", "rejects", "source")

    _FIELDS = ("listing_id", "source_event_id", "section", "row", "seats", "quantity", "splits",
               "price_cents", "fees_cents", "total_cents", "currency", "delivery", "kind", "zone")

    def __init__(self, marketplace: str, observed_at: datetime, source: str | None) -> None:
        self.marketplace = marketplace
        self._observed_at = observed_at
        self.source = source
        self.rejects: list[Reject] = []
        self.cols: dict[str, list[Any]] = {name: [] for name in self._FIELDS}

    def reject(self, reason: str, raw: Any) -> None:
        self.rejects.append(Reject(self._observed_at, self.marketplace, self.source, reason,
                                   raw_fragment(raw)))

    def add(self, raw: Any, listing_id: Any, event_id: Any, section_raw: Any, row_raw: Any,
            seats: str | None, quantity: int | None, splits: str | None, price: int | None,
            fees: int | None, total: int | None, currency: str | None, delivery: str,
            kind: str, zone: str | None, *, need_section: bool = True) -> bool:
        """Append one listing after the checks every marketplace shares; False if rejected.

        ``raw`` is the marketplace's fragment, kept with the reason when refused.
        """
        if listing_id is None or listing_id == "":
            self.reject("missing listing id", raw)
            return False
        if event_id is None or event_id == "":
            self.reject("missing event id", raw)
            return False
        if total is None and price is not None and fees is not None:
            total = price + fees
        if total is None:
            self.reject("missing price", raw)
            return False
        if total < 0 or (price is not None and price < 0) or (fees is not None and fees < 0):
            self.reject("negative price", raw)
            return False
        if quantity is not None and quantity < 0:
            self.reject("negative quantity", raw)
            return False
        section = normalize.section(section_raw) if section_raw is not None else None
        if need_section and not section:
            self.reject("unknown section", raw)
            return False
        c = self.cols
        c["listing_id"].append(str(listing_id))
        c["source_event_id"].append(str(event_id))
        c["section"].append(section or None)
        c["row"].append(normalize.row(row_raw) if row_raw is not None else None)
        c["seats"].append(seats)
        c["quantity"].append(quantity)
        c["splits"].append(splits)
        c["price_cents"].append(price)
        c["fees_cents"].append(fees)
        c["total_cents"].append(total)
        c["currency"].append((currency or "USD").upper())
        c["delivery"].append(delivery)
        c["kind"].append(kind)
        c["zone"].append(zone)
        return True

    def __len__(self) -> int:
        return len(self.cols["listing_id"])

    def to_batch(self) -> pa.RecordBatch:
        n = len(self)
        c = self.cols
        arrays = [
            pa.array([self._observed_at] * n, LISTING_SCHEMA.field("observed_at").type),
            pa.array([self.marketplace] * n, pa.string()),
        ]
        arrays.extend(
            pa.array(c[name], LISTING_SCHEMA.field(name).type) for name in self._FIELDS
        )
        return pa.RecordBatch.from_arrays(arrays, schema=LISTING_SCHEMA)


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
