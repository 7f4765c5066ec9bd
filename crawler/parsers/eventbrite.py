"""Eventbrite v3: organizations, organization events (``continuation`` paging), event
details (with ``expand=venue``) and ticket classes.

Ticket classes are primary price tiers: money objects carry ``value`` in minor units
(cents for USD), so no decimal parsing is needed. A class is a listing when a buyer can
buy it now at a price: hidden, donation, free and sold-out classes are not listings (a
class selling out is how its listing goes away; a free ticket has no price to track).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crawler import normalize
from crawler.parsers._common import (
    ListingColumns,
    PageInfo,
    Parsed,
    ParseError,
    dig,
    load_json,
    now_utc,
    raw_fragment,
    text,
)
from storage.records import EventRecord, Reject

MARKETPLACE = "eventbrite"
_STATUS = {"live": "onsale", "started": "onsale", "ended": "offsale", "completed": "offsale",
           "canceled": "cancelled", "cancelled": "cancelled", "draft": "offsale"}
#: Eventbrite ``category_id`` -> our coarse category (the documented top-level ids).
_CATEGORY_IDS = {"103": "concert", "105": "theatre", "108": "sports", "110": "food",
                 "113": "community", "104": "film", "102": "technology", "101": "business"}
_NOT_LISTED = {"SOLD_OUT", "NOT_YET_ON_SALE", "UNAVAILABLE", "HIDDEN"}


def parse(body: Any, *, source: str | None = None, observed_at: datetime | None = None,
          event_id: str | None = None) -> Parsed:
    """Records of one Eventbrite response; the endpoint is recognised by its shape."""
    data = load_json(body)
    observed_at = observed_at or now_utc()
    empty = ListingColumns(MARKETPLACE, observed_at, source)
    if not isinstance(data, dict):
        raise ParseError(f"expected a JSON object, got {type(data).__name__}")
    if "error" in data and "status_code" in data:
        raise ParseError(f"Eventbrite error {data.get('status_code')} {data.get('error')}: "
                         f"{data.get('error_description')}")
    if "ticket_classes" in data:
        return _ticket_classes(data, source, observed_at, event_id)
    if "events" in data:
        events, rejects = [], []
        for item in data.get("events") or []:
            event, reject = _event(item, observed_at, source)
            if event:
                events.append(event)
            if reject:
                rejects.append(reject)
        return Parsed("organization_events", empty.to_batch(), events=events, rejects=rejects,
                      page=_page(data.get("pagination")))
    if "organizations" in data:
        ids = [str(o["id"]) for o in data.get("organizations") or []
               if isinstance(o, dict) and o.get("id") is not None]
        return Parsed("organizations", empty.to_batch(), page=_page(data.get("pagination")),
                      refs=ids)
    if "start" in data and "name" in data and "id" in data:
        event, reject = _event(data, observed_at, source)
        return Parsed("event", empty.to_batch(), events=[event] if event else [],
                      rejects=[reject] if reject else [])
    if "address" in data and "id" in data:
        return Parsed("venue", empty.to_batch())
    raise ParseError("not an Eventbrite v3 events, event or ticket_classes response "
                     f"(keys: {sorted(data)[:8]})")


def _page(pagination: Any) -> PageInfo | None:
    if not isinstance(pagination, dict):
        return None
    return PageInfo(number=normalize.to_int(pagination.get("page_number")),
                    size=normalize.to_int(pagination.get("page_size")),
                    total_items=normalize.to_int(pagination.get("object_count")),
                    total_pages=normalize.to_int(pagination.get("page_count")),
                    has_more=bool(pagination.get("has_more_items")),
                    continuation=text(pagination.get("continuation")))


def _event(item: Any, observed_at: datetime, source: str | None
           ) -> tuple[EventRecord | None, Reject | None]:
    name = dig(item, "name", "text") if isinstance(item, dict) else None
    if isinstance(item, dict) and name is None and isinstance(item.get("name"), str):
        name = item["name"]
    if not isinstance(item, dict) or item.get("id") is None or not text(name):
        return None, Reject(observed_at, MARKETPLACE, source, "event without id or name",
                            raw_fragment(item))
    venue = item.get("venue") if isinstance(item.get("venue"), dict) else {}
    city = text(dig(venue, "address", "city")) or text(venue.get("city"))
    category = _CATEGORY_IDS.get(str(item.get("category_id")))
    if isinstance(item.get("category"), dict):
        category = normalize.category(item["category"].get("short_name"),
                                      item["category"].get("name")) or category
    return EventRecord(
        marketplace=MARKETPLACE,
        source_event_id=str(item["id"]),
        name=str(name).strip(),
        starts_at=normalize.parse_time(dig(item, "start", "utc")),
        venue_name=text(venue.get("name")),
        venue_city=city,
        venue_source_id=text(item.get("venue_id")) or text(venue.get("id")),
        category=category,
        performers=(),
        url=text(item.get("url")),
        status=_STATUS.get(str(item.get("status") or "live").lower(), "onsale"),
        timezone=text(dig(item, "start", "timezone")),
        observed_at=observed_at,
    ), None


def _minor(money: Any) -> int | None:
    if not isinstance(money, dict):
        return None
    value = normalize.to_int(money.get("value"))
    if value is None:
        return normalize.to_cents(money.get("major_value"))
    return value


def _ticket_classes(data: dict[str, Any], source: str | None, observed_at: datetime,
                    event_id: str | None) -> Parsed:
    out = ListingColumns(MARKETPLACE, observed_at, source, money="cents")
    for item in out.objects(data.get("ticket_classes") or [], "ticket class"):
        status = str(item.get("on_sale_status") or "AVAILABLE").upper()
        if item.get("hidden") or item.get("hidden_currently") or item.get("donation") \
                or item.get("free") or status in _NOT_LISTED:
            continue
        price = _minor(item.get("cost"))
        fee, tax = _minor(item.get("fee")), _minor(item.get("tax"))
        fees = None if price is None else (fee or 0) + (tax or 0)
        currency = text(dig(item, "cost", "currency"))
        if price is not None and item.get("include_fee") and fee:
            price -= fee  # the shown cost already holds the fee
        total = price + fees if price is not None and fees is not None else None
        sold = normalize.to_int(item.get("quantity_sold"))
        capacity = normalize.to_int(item.get("quantity_total"))
        if capacity is None:
            capacity = normalize.to_int(item.get("capacity"))
        quantity = capacity - (sold or 0) if capacity is not None else None
        if quantity == 0:
            continue  # sold out by count: no longer for sale
        low = normalize.to_int(item.get("minimum_quantity"))
        high = normalize.to_int(item.get("maximum_quantity_per_order")) or \
            normalize.to_int(item.get("maximum_quantity"))
        splits = ",".join(str(n) for n in range(low, high + 1)) \
            if low and high and 0 < high - low < 10 else None
        out.add(item, item.get("id"), item.get("event_id") or event_id, "GA", None, None,
                quantity, splits, price, fees, total, currency,
                normalize.delivery(item.get("delivery_methods") or "electronic"), "primary",
                text(item.get("display_name")) or text(item.get("name")))
    return Parsed("ticket_classes", out.to_batch(), rejects=out.rejects,
                  page=_page(data.get("pagination")), refs=[event_id] if event_id else [])
