"""StubHub: catalog event search and event, inventory search listings, venue
configurations, and the rendered event web page.

Inventory listings carry the buyer's all-in ``currentPrice`` and the seller's
``listingPrice``; the difference is StubHub's fee. The web page shows only all-in prices,
so its listings have a total and no price/fee split. The catalog's
``externalEventMappings`` become the event's cross-references.
"""

from __future__ import annotations

import re
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
from storage.records import EventRecord, PriceStats, Reject

MARKETPLACE = "stubhub"
_STATUS = {"active": "onsale", "contingent": "onsale", "completed": "offsale",
           "expired": "offsale", "cancelled": "cancelled", "canceled": "cancelled",
           "postponed": "postponed", "rescheduled": "rescheduled", "sold_out": "soldout"}
#: externalEventMappings namespaces that name another marketplace of ours
_NAMESPACES = {"tm": "ticketmaster", "ticketmaster": "ticketmaster", "seatgeek": "seatgeek",
               "sg": "seatgeek", "eventbrite": "eventbrite", "eb": "eventbrite"}
_EVENT_IN_URL = re.compile(r"(?:/event/|eventId=|/events/v3/)(\d+)")


def parse(body: Any, *, source: str | None = None, observed_at: datetime | None = None,
          event_id: str | None = None) -> Parsed:
    """Records of one StubHub response (JSON API or rendered HTML event page)."""
    observed_at = observed_at or now_utc()
    if isinstance(body, bytes | str) and body.lstrip()[:1] in (b"<", "<"):
        return parse_page(body, source=source, observed_at=observed_at, event_id=event_id)
    data = load_json(body)
    empty = ListingColumns(MARKETPLACE, observed_at, source)
    if not isinstance(data, dict):
        raise ParseError(f"expected a JSON object, got {type(data).__name__}")
    if "listing" in data or "totalListings" in data:
        return _inventory(data, source, observed_at, event_id)
    if "events" in data and ("numFound" in data or isinstance(data["events"], list)):
        events, rejects = [], []
        for item in data.get("events") or []:
            event, reject = _event(item, observed_at, source)
            if event:
                events.append(event)
            if reject:
                rejects.append(reject)
        found = normalize.to_int(data.get("numFound"))
        start = normalize.to_int(data.get("start")) or 0
        rows = normalize.to_int(data.get("rows")) or len(data.get("events") or [])
        return Parsed("catalog_search", empty.to_batch(), events=events, rejects=rejects,
                      page=PageInfo(start=start, size=rows, total_items=found,
                                    has_more=found is not None and rows > 0
                                    and start + rows < found))
    if "venueConfiguration" in data:
        return Parsed("venue_configuration", empty.to_batch())
    if "id" in data and ("eventDateUTC" in data or "eventDateLocal" in data
                         or ("venue" in data and "name" in data)):
        event, reject = _event(data, observed_at, source)
        return Parsed("catalog_event", empty.to_batch(), events=[event] if event else [],
                      rejects=[reject] if reject else [])
    if "code" in data and ("description" in data or "message" in data):
        raise ParseError(f"StubHub error {data.get('code')}: "
                         f"{data.get('description') or data.get('message')}")
    raise ParseError(f"not a StubHub catalog or inventory response (keys: {sorted(data)[:8]})")


def _event(item: Any, observed_at: datetime, source: str | None
           ) -> tuple[EventRecord | None, Reject | None]:
    if not isinstance(item, dict) or item.get("id") is None or not text(item.get("name")):
        return None, Reject(observed_at, MARKETPLACE, source, "event without id or name",
                            raw_fragment(item))
    venue = item.get("venue") if isinstance(item.get("venue"), dict) else {}
    refs = []
    for mapping in item.get("externalEventMappings") or []:
        if isinstance(mapping, dict) and mapping.get("id") is not None:
            namespace = str(mapping.get("namespace") or "").lower()
            refs.append((_NAMESPACES.get(namespace, namespace), str(mapping["id"])))
    categories = [c.get("name") for c in item.get("categories") or [] if isinstance(c, dict)]
    ancestors = [c.get("name") for c in dig(item, "ancestors", "categories") or []
                 if isinstance(c, dict)]
    performers = tuple(str(p["name"]) for p in item.get("performers") or []
                       if isinstance(p, dict) and p.get("name"))
    name = str(item["name"]).strip()
    if name.endswith(" Tickets"):
        name = name[: -len(" Tickets")]
    starts_at = normalize.parse_time(item.get("eventDateUTC")) or normalize.parse_time(
        item.get("eventDateLocal"))
    web = text(item.get("webURI"))
    return EventRecord(
        marketplace=MARKETPLACE,
        source_event_id=str(item["id"]),
        name=name,
        starts_at=starts_at,
        venue_name=text(venue.get("name")),
        venue_city=text(venue.get("locality")) or text(venue.get("city")),
        venue_source_id=text(venue.get("id")),
        category=normalize.category(*categories, *reversed(ancestors)),
        performers=performers,
        url=web if web is None or web.startswith("http") else f"https://www.stubhub.com/{web}",
        status=_STATUS.get(str(item.get("status") or "active").lower(), "onsale"),
        timezone=text(item.get("timezone")),
        cross_refs=tuple(refs),
        observed_at=observed_at,
    ), None


def _inventory(data: dict[str, Any], source: str | None, observed_at: datetime,
               event_id: str | None) -> Parsed:
    event_id = text(data.get("eventId")) or event_id
    out = ListingColumns(MARKETPLACE, observed_at, source)
    items = data.get("listing") or []
    if not _usual_shape(out, items, event_id):
        _one_by_one(out, items, event_id)
    to_cents, to_int = normalize.to_cents, normalize.to_int
    start = to_int(data.get("start")) or 0
    rows = to_int(data.get("rows")) or 0
    total_listings = to_int(data.get("totalListings"))
    stats = []
    summary = data.get("pricingSummary")
    if event_id and isinstance(summary, dict):
        seller_prices = str(summary.get("name", "")).lower() == "listingprice"
        low = to_cents(summary.get("minTicketPrice"))
        stats.append(PriceStats(
            observed_at, MARKETPLACE, event_id,
            lowest_cents=None if seller_prices else low,
            lowest_base_cents=low if seller_prices else None,
            average_cents=None if seller_prices else to_cents(summary.get("averageTicketPrice")),
            highest_cents=None if seller_prices else to_cents(summary.get("maxTicketPrice")),
            listing_count=to_int(summary.get("totalListings")) or total_listings,
            currency="USD"))
    return Parsed("inventory", out.to_batch(), stats=stats, rejects=out.rejects,
                  page=PageInfo(start=start, size=rows, total_items=total_listings,
                                has_more=total_listings is not None and rows > 0
                                and start + rows < total_listings),
                  refs=[event_id] if event_id else [])


def _usual_shape(out: ListingColumns, items: Any, event_id: str | None) -> bool:
    """Add a page whose listings are all objects with both prices as objects, column by
    column; False (nothing added) for any other page."""
    if not isinstance(items, list) or not all(type(x) is dict for x in items):
        return False
    current = [x.get("currentPrice") for x in items]
    seller = [x.get("listingPrice") for x in items]
    if not all(type(c) is dict for c in current) or not all(type(p) is dict for p in seller):
        return False
    seats, splits, delivery = normalize.seats, normalize.splits, normalize.delivery
    currency = [c.get("currency") for c in current]
    out.extend(items, {
        "listing_id": [x.get("listingId") for x in items],
        "source_event_id": [x.get("eventId") or event_id for x in items],
        "section": [x.get("sectionName") or x.get("sellerSectionName") for x in items],
        "row": [x.get("row") for x in items],
        "seats": [seats(x.get("seatNumbers")) for x in items],
        "quantity": [x.get("quantity") for x in items],
        "splits": [splits(x.get("splitVector")) for x in items],
        "price_cents": [p.get("amount") for p in seller],
        "fees_cents": [None] * len(items),
        "total_cents": [c.get("amount") for c in current],
        "currency": [p.get("currency") if c is None else c for c, p in zip(currency, seller,
                                                                           strict=True)],
        "delivery": [delivery(x.get("deliveryTypeList") or x.get("deliveryMethodList"))
                     for x in items],
        "kind": ["resale"] * len(items),
        "zone": [x.get("zoneName") for x in items],
    })
    return True


def _one_by_one(out: ListingColumns, items: Any, event_id: str | None) -> None:
    """Add a page listing by listing, refusing the malformed ones with their reason."""
    add, seats, splits, delivery = out.add, normalize.seats, normalize.splits, normalize.delivery
    for item in out.objects(items, "listing"):
        current, seller = item.get("currentPrice"), item.get("listingPrice")
        total, currency = (current.get("amount"), current.get("currency")) \
            if isinstance(current, dict) else (current, None)
        price = seller.get("amount") if isinstance(seller, dict) else seller
        if currency is None and isinstance(seller, dict):
            currency = seller.get("currency")
        add(item, item.get("listingId"), item.get("eventId") or event_id,
            item.get("sectionName") or item.get("sellerSectionName"), item.get("row"),
            seats(item.get("seatNumbers")), item.get("quantity"), splits(item.get("splitVector")),
            price, None, total, currency,
            delivery(item.get("deliveryTypeList") or item.get("deliveryMethodList")), "resale",
            item.get("zoneName"))


def parse_page(body: bytes | str, *, source: str | None = None,
               observed_at: datetime | None = None, event_id: str | None = None) -> Parsed:
    """Listings and the event of a rendered StubHub event page (after its script ran)."""
    from parsel import Selector

    observed_at = observed_at or now_utc()
    html = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    sel = Selector(text=html)
    listings_ul = sel.css("ul#listings")
    if not listings_ul:
        raise ParseError("not a StubHub event page: no <ul id=\"listings\">")
    if listings_ul.attrib.get("data-error"):
        raise ParseError("StubHub event page could not load its listings: "
                         f"{listings_ul.attrib['data-error']}")
    if listings_ul.attrib.get("data-loaded") != "true":
        raise ParseError("StubHub event page not rendered: listings never finished loading "
                         "(ul#listings has no data-loaded=\"true\")")
    if event_id is None:
        match = _EVENT_IN_URL.search(source or "")
        event_id = match.group(1) if match else text(sel.css("[data-event-id]::attr("
                                                             "data-event-id)").get())
    events = []
    name = text(" ".join(sel.css("h1.event-name ::text").getall()))
    if name and event_id:
        venue = sel.css("div.venue")
        events.append(EventRecord(
            marketplace=MARKETPLACE, source_event_id=event_id, name=name,
            starts_at=normalize.parse_time(sel.css("time::attr(datetime)").get()),
            venue_name=text(" ".join(venue.css("::text").getall())) if venue else None,
            venue_source_id=text(venue.attrib.get("data-venue-id")) if venue else None,
            url=source, observed_at=observed_at))
    out = ListingColumns(MARKETPLACE, observed_at, source)
    for li in listings_ul.css("li.listing-row"):
        a = li.attrib
        out.add(dict(a), a.get("data-listing-id"), event_id, a.get("data-section"),
                a.get("data-row"), normalize.seats(a.get("data-seats")),
                a.get("data-quantity"), normalize.splits(a.get("data-splits")),
                None, None, a.get("data-price") or None, a.get("data-currency"),
                normalize.delivery(a.get("data-delivery")), "resale", a.get("data-zone"))
    return Parsed("event_page", out.to_batch(), events=events, rejects=out.rejects,
                  refs=[event_id] if event_id else [])
