"""SeatGeek Platform v2: ``/2/events`` pages, single events, and seat-level listings.

Event ``stats`` are event-level price points in whole or fractional dollars (all-in,
with ``lowest_sg_base_price`` before fees). Listings (``/2/events/{id}/listings``) carry
``price.base``, ``price.fees`` and ``price.all_in`` per ticket.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from crawler import normalize
from crawler.parsers._common import (
    ListingColumns,
    PageInfo,
    Parsed,
    ParseError,
    load_json,
    now_utc,
    raw_fragment,
    text,
)
from storage.records import EventRecord, PriceStats, Reject

MARKETPLACE = "seatgeek"
_UTC = pa.timestamp("us", "UTC")
_STATUS = {"normal": "onsale", "cancelled": "cancelled", "canceled": "cancelled",
           "postponed": "postponed", "rescheduled": "rescheduled", "contingent": "onsale"}


def parse(body: Any, *, source: str | None = None, observed_at: datetime | None = None,
          event_id: str | None = None) -> Parsed:
    """Records of one SeatGeek response; the endpoint is recognised by its shape."""
    data = load_json(body)
    observed_at = observed_at or now_utc()
    empty = ListingColumns(MARKETPLACE, observed_at, source)
    if not isinstance(data, dict):
        raise ParseError(f"expected a JSON object, got {type(data).__name__}")
    if "listings" in data:
        return _listings(data, source, observed_at, event_id)
    if "events" in data:
        events, stats, rejects = [], [], []
        for item in data.get("events") or []:
            event, event_stats, reject = _event(item, observed_at, source)
            if event:
                events.append(event)
            stats.extend(event_stats)
            if reject:
                rejects.append(reject)
        return Parsed("events", empty.to_batch(), events=events, stats=stats, rejects=rejects,
                      page=_page(data.get("meta")))
    if "id" in data and ("datetime_utc" in data or "title" in data or "stats" in data):
        event, stats, reject = _event(data, observed_at, source)
        return Parsed("event", empty.to_batch(), events=[event] if event else [], stats=stats,
                      rejects=[reject] if reject else [])
    if any(isinstance(data.get(k), list) for k in ("venues", "performers", "taxonomies")):
        return Parsed("catalog", empty.to_batch(), page=_page(data.get("meta")))
    if "status" in data and ("message" in data or "error" in data):
        raise ParseError(f"SeatGeek error response: {data.get('message') or data.get('error')}")
    raise ParseError(f"not a SeatGeek v2 events or listings response (keys: {sorted(data)[:8]})")


def _page(meta: Any) -> PageInfo | None:
    if not isinstance(meta, dict):
        return None
    number = normalize.to_int(meta.get("page")) or 1
    size = normalize.to_int(meta.get("per_page"))
    total = normalize.to_int(meta.get("total"))
    pages = -(-total // size) if total is not None and size else None
    return PageInfo(number=number, size=size, total_items=total, total_pages=pages,
                    has_more=pages is not None and number < pages)


def _tba_date(item: dict) -> date | None:
    """The local date of an event whose time is to be announced (None: the date is too)."""
    local = item.get("datetime_local")
    if item.get("date_tbd") or item.get("datetime_tbd") or not isinstance(local, str):
        return None
    try:
        return date.fromisoformat(local[:10])
    except ValueError:
        return None


def _event(item: Any, observed_at: datetime, source: str | None
           ) -> tuple[EventRecord | None, list[PriceStats], Reject | None]:
    if not isinstance(item, dict) or item.get("id") is None or not text(
            item.get("title") or item.get("short_title")):
        return None, [], Reject(observed_at, MARKETPLACE, source, "event without id or title",
                                raw_fragment(item))
    event_id = str(item["id"])
    venue = item.get("venue") if isinstance(item.get("venue"), dict) else {}
    tbd = item.get("date_tbd") or item.get("datetime_tbd") or item.get("time_tbd")
    performers = [p for p in item.get("performers") or [] if isinstance(p, dict)]
    taxonomies = [t.get("name") for t in item.get("taxonomies") or [] if isinstance(t, dict)]
    event = EventRecord(
        marketplace=MARKETPLACE,
        source_event_id=event_id,
        name=str(item.get("title") or item.get("short_title")).strip(),
        starts_at=None if tbd else normalize.parse_time(item.get("datetime_utc")),
        venue_name=text(venue.get("name")),
        venue_city=text(venue.get("city")),
        venue_source_id=text(venue.get("id")),
        category=normalize.category(*reversed(taxonomies), item.get("type")),
        performers=tuple(str(p["name"]) for p in performers if p.get("name")),
        url=text(item.get("url")),
        status=_STATUS.get(str(item.get("status") or "normal").lower(), "onsale"),
        timezone=text(venue.get("timezone")),
        observed_at=observed_at,
        start_date=_tba_date(item) if tbd else None,
    )
    stats = item.get("stats") if isinstance(item.get("stats"), dict) else None
    if not stats:
        return event, [], None
    return event, [PriceStats(
        observed_at, MARKETPLACE, event_id,
        lowest_cents=normalize.to_cents(stats.get("lowest_price")),
        lowest_base_cents=normalize.to_cents(stats.get("lowest_sg_base_price")),
        median_cents=normalize.to_cents(stats.get("median_price")),
        average_cents=normalize.to_cents(stats.get("average_price")),
        highest_cents=normalize.to_cents(stats.get("highest_price")),
        listing_count=normalize.to_int(stats.get("listing_count")
                                       if stats.get("listing_count") is not None
                                       else stats.get("visible_listing_count")),
        currency="USD",
    )], None


def _listings(data: dict[str, Any], source: str | None, observed_at: datetime,
              event_id: str | None) -> Parsed:
    out = ListingColumns(MARKETPLACE, observed_at, source)
    items = data.get("listings") or []
    if not _usual_shape(out, items, event_id):
        _one_by_one(out, items, event_id)
    return Parsed("listings", out.to_batch(), rejects=out.rejects,
                  page=_page(data.get("meta")), refs=[str(event_id)] if event_id else [])


def _usual_shape(out: ListingColumns, items: Any, event_id: str | None) -> bool:
    """Add a page whose listings are all objects with a price object and a readable (or
    no) ``created_at``, column by column; False (nothing added) for any other page."""
    if not isinstance(items, list) or not all(type(x) is dict for x in items):
        return False
    prices = [x.get("price") for x in items]
    if not all(type(p) is dict for p in prices) or not _valid_times(
            [x.get("created_at") for x in items]):
        return False
    seats, splits, delivery = normalize.seats, normalize.splits, normalize.delivery
    out.extend(items, {
        "listing_id": [x.get("id") for x in items],
        "source_event_id": [x.get("event_id") or event_id for x in items],
        "section": [x.get("section") for x in items],
        "row": [x.get("row") for x in items],
        "seats": [seats(x.get("seat_numbers")) for x in items],
        "quantity": [x.get("quantity") for x in items],
        "splits": [splits(x.get("splits")) for x in items],
        "price_cents": [p.get("base") for p in prices],
        "fees_cents": [p.get("fees") for p in prices],
        "total_cents": [p.get("all_in") for p in prices],
        "currency": [p.get("currency") for p in prices],
        "delivery": [delivery(x.get("delivery_method")) for x in items],
        "kind": ["primary" if x.get("market") == "primary" else "resale" for x in items],
        "zone": [x.get("zone") for x in items],
    })
    return True


def _one_by_one(out: ListingColumns, items: Any, event_id: str | None) -> None:
    """Add a page listing by listing, refusing the malformed ones with their reason."""
    add, seats, splits, delivery = out.add, normalize.seats, normalize.splits, normalize.delivery
    for item in out.objects(items, "listing"):
        price = item.get("price")
        if isinstance(price, dict):
            base, fees, total = price.get("base"), price.get("fees"), price.get("all_in")
            currency = price.get("currency")
        else:
            base, fees, total, currency = None, None, price, None
        created = item.get("created_at")
        if created is not None and not _valid_time(created):
            out.reject("impossible date", item)
            continue
        add(item, item.get("id"), item.get("event_id") or event_id, item.get("section"),
            item.get("row"), seats(item.get("seat_numbers")), item.get("quantity"),
            splits(item.get("splits")), base, fees, total, currency,
            delivery(item.get("delivery_method")),
            "primary" if item.get("market") == "primary" else "resale", item.get("zone"))


def _valid_times(values: list[Any]) -> bool:
    """Every value absent or a readable ISO-8601 time: Arrow parses the column at once
    (stricter than Python: what it refuses is checked one by one)."""
    present = [v for v in values if v is not None]
    if all(type(v) is str for v in present):
        try:
            pc.cast(pa.array(present, pa.string()), _UTC)
            return True
        except pa.ArrowInvalid:
            pass
    return all(_valid_time(v) for v in present)


def _valid_time(value: Any) -> bool:
    """A readable ISO-8601 time (not cached: every listing has its own)."""
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return False
    return True
