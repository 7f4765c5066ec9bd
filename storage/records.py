"""Canonical records and their Arrow schemas: the contract between crawler, engine and storage.

Parsers produce these; everything between the crawler and the database passes Arrow
record batches of ``LISTING_SCHEMA`` (never one Python object per listing: per-item
overhead is what limits throughput). Events and event-level price stats are few per page,
so they travel as small dataclasses and are turned into batches only where it helps.

Money is integer cents, never float. Times are timezone-aware UTC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import pyarrow as pa

MARKETPLACES: tuple[str, ...] = ("ticketmaster", "seatgeek", "eventbrite", "stubhub")

#: Listing kinds: a reseller's listing, or a primary (box office) price tier.
KINDS: tuple[str, ...] = ("resale", "primary")

#: Delivery methods, normalised across marketplaces.
DELIVERIES: tuple[str, ...] = (
    "mobile", "electronic", "instant", "will_call", "physical", "unknown"
)

TS = pa.timestamp("us", tz="UTC")

#: One listing as seen at one moment. ``source_event_id`` is the marketplace's own event id;
#: storage resolves it to our event through ``event_sources`` (unknown ones are quarantined).
#: Prices are per ticket: ``total_cents`` is the all-in price a buyer pays per ticket
#: (``price_cents + fees_cents``, taxes included where the marketplace shows them).
LISTING_SCHEMA = pa.schema(
    [
        pa.field("observed_at", TS, nullable=False),
        pa.field("marketplace", pa.string(), nullable=False),
        pa.field("listing_id", pa.string(), nullable=False),
        pa.field("source_event_id", pa.string(), nullable=False),
        pa.field("section", pa.string()),  # normalised: "112", "FLOOR", "CLUB 2", "GA"
        pa.field("row", pa.string()),  # normalised: "AA", "12", null when unknown / GA
        pa.field("seats", pa.string()),  # "5-8", "5,6", null when not disclosed
        pa.field("quantity", pa.int32()),
        pa.field("splits", pa.string()),  # allowed purchase sizes, "1,2,4"; null = any
        pa.field("price_cents", pa.int64()),  # per ticket, before fees
        pa.field("fees_cents", pa.int64()),  # per ticket
        pa.field("total_cents", pa.int64()),  # per ticket, all-in
        pa.field("currency", pa.string()),
        pa.field("delivery", pa.string()),
        pa.field("kind", pa.string()),  # "resale" | "primary"
        pa.field("zone", pa.string()),  # marketplace zone / tier name when given
    ]
)

#: Event-level price points a marketplace publishes (SeatGeek ``stats``, Ticketmaster
#: ``priceRanges``, StubHub section/zone stats aggregated), one row per observation.
PRICE_STATS_SCHEMA = pa.schema(
    [
        pa.field("observed_at", TS, nullable=False),
        pa.field("marketplace", pa.string(), nullable=False),
        pa.field("source_event_id", pa.string(), nullable=False),
        pa.field("lowest_cents", pa.int64()),  # all-in
        pa.field("lowest_base_cents", pa.int64()),  # before fees
        pa.field("median_cents", pa.int64()),
        pa.field("average_cents", pa.int64()),
        pa.field("highest_cents", pa.int64()),
        pa.field("listing_count", pa.int32()),
        pa.field("currency", pa.string()),
    ]
)

#: A record a parser could not accept: kept aside with the reason and the raw fragment.
REJECT_SCHEMA = pa.schema(
    [
        pa.field("observed_at", TS, nullable=False),
        pa.field("marketplace", pa.string(), nullable=False),
        pa.field("source", pa.string()),  # URL or file the record came from
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string()),  # the offending JSON / HTML fragment, truncated
    ]
)


@dataclasses.dataclass(frozen=True, slots=True)
class EventRecord:
    """One event as one marketplace describes it (identity across marketplaces comes later)."""

    marketplace: str
    source_event_id: str
    name: str
    starts_at: datetime | None  # UTC; None when the marketplace says "TBA"
    venue_name: str | None = None
    venue_city: str | None = None
    venue_source_id: str | None = None
    category: str | None = None  # "basketball", "concert", "comedy", "soccer", "theatre", ...
    performers: tuple[str, ...] = ()
    url: str | None = None
    status: str = "onsale"  # onsale | offsale | soldout | postponed | rescheduled | cancelled
    timezone: str | None = None  # IANA name of the venue's zone, when known
    #: ids of the same event on other marketplaces, when the marketplace says so
    cross_refs: tuple[tuple[str, str], ...] = ()
    observed_at: datetime | None = None
    #: the local date when the marketplace gives a date but the time is to be announced
    start_date: date | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class PriceStats:
    """Event-level price points (see ``PRICE_STATS_SCHEMA``)."""

    observed_at: datetime
    marketplace: str
    source_event_id: str
    lowest_cents: int | None = None
    lowest_base_cents: int | None = None
    median_cents: int | None = None
    average_cents: int | None = None
    highest_cents: int | None = None
    listing_count: int | None = None
    currency: str | None = "USD"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Reject:
    """A record refused by a parser, with why and the raw fragment (see ``REJECT_SCHEMA``)."""

    observed_at: datetime
    marketplace: str
    source: str | None
    reason: str
    raw: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def records_to_batch(records: Sequence[Any], schema: pa.Schema) -> pa.RecordBatch:
    """Build a batch from a few dataclass records (stats, rejects): not for listings."""
    columns = {name: [getattr(r, name) for r in records] for name in schema.names}
    return pa.RecordBatch.from_pydict(columns, schema=schema)


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def concat_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatch:
    """One batch from many (an empty batch of ``schema`` when there are none)."""
    table = pa.Table.from_batches(list(batches), schema=schema).combine_chunks()
    out = table.to_batches()
    return out[0] if out else empty_batch(schema)


def table_from_rows(rows: Sequence[tuple], schema: pa.Schema) -> pa.Table:
    """Fetched rows as an Arrow table: each row's values in ``schema``'s column order, cast to
    its types (nullability is not enforced)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table({f.name: pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)})
