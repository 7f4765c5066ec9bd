"""Ticketmaster: Discovery v2 (event search, event details), Commerce v2 offers, Top Picks.

Top Picks is the seat-level source (face value + charges = total, per ticket); Commerce
offers are the primary price tiers per price zone (event-level price points).
``priceRanges`` on events is often absent and that is normal: no stats then.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
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

MARKETPLACE = "ticketmaster"
_EVENT_IN_URL = re.compile(r"/(?:events?)/([A-Za-z0-9_\-]+?)(?:\.json|/offers|/image|\?|/|$)")
_STATUS = {"onsale": "onsale", "offsale": "offsale", "cancelled": "cancelled",
           "canceled": "cancelled", "postponed": "postponed", "rescheduled": "rescheduled"}


def parse(body: Any, *, source: str | None = None, observed_at: datetime | None = None,
          event_id: str | None = None) -> Parsed:
    """Records of one Ticketmaster response; the endpoint is recognised by its shape."""
    data = load_json(body)
    observed_at = observed_at or now_utc()
    if isinstance(data, list):
        return Parsed("inventory_status", ListingColumns(MARKETPLACE, observed_at, source)
                      .to_batch())
    if not isinstance(data, dict):
        raise ParseError(f"expected a JSON object, got {type(data).__name__}")
    if "fault" in data or ("errors" in data and "page" not in data):
        detail = dig(data, "fault", "faultstring") or dig(data, "errors", 0, "detail") or data
        raise ParseError(f"Ticketmaster error response: {detail}")
    if "picks" in data:
        return _top_picks(data, source, observed_at, event_id)
    if "offers" in data and isinstance(data["offers"], list) and (
            "prices" in data or "metadata" in data or "limits" in data or "_embedded" in data):
        return _offers(data, source, observed_at, event_id)
    if dig(data, "_embedded", "events") is not None or (
            "page" in data and "dates" not in data):
        return _search(data, source, observed_at)
    if "dates" in data or data.get("type") == "event":
        event, stats, reject = _event(data, observed_at, source)
        return Parsed("event_details", ListingColumns(MARKETPLACE, observed_at, source)
                      .to_batch(), events=[event] if event else [], stats=stats,
                      rejects=[reject] if reject else [])
    raise ParseError("not a Ticketmaster Discovery, Commerce or Top Picks response "
                     f"(top-level keys: {sorted(data)[:8]})")


def _search(data: dict[str, Any], source: str | None, observed_at: datetime) -> Parsed:
    events: list[EventRecord] = []
    stats: list[PriceStats] = []
    rejects: list[Reject] = []
    for item in dig(data, "_embedded", "events") or []:
        event, event_stats, reject = _event(item, observed_at, source)
        if event:
            events.append(event)
        stats.extend(event_stats)
        if reject:
            rejects.append(reject)
    page = data.get("page") or {}
    number = normalize.to_int(page.get("number")) or 0
    total_pages = normalize.to_int(page.get("totalPages"))
    return Parsed(
        "discovery_events", ListingColumns(MARKETPLACE, observed_at, source).to_batch(),
        events=events, stats=stats, rejects=rejects,
        page=PageInfo(number=number, size=normalize.to_int(page.get("size")),
                      total_items=normalize.to_int(page.get("totalElements")),
                      total_pages=total_pages,
                      has_more=dig(data, "_links", "next") is not None
                      or (total_pages is not None and number + 1 < total_pages)),
    )


def _start(item: dict[str, Any]) -> datetime | None:
    start = dig(item, "dates", "start") or {}
    if start.get("dateTBD") or start.get("dateTBA"):
        return None
    if start.get("dateTime"):
        return normalize.parse_time(start["dateTime"])
    local_date, local_time = start.get("localDate"), start.get("localTime")
    zone = dig(item, "dates", "timezone")
    if local_date and local_time and zone and not start.get("timeTBA"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            local = datetime.fromisoformat(f"{local_date}T{local_time}")
            return normalize.parse_time(local.replace(tzinfo=ZoneInfo(zone)).isoformat())
        except (ValueError, ZoneInfoNotFoundError):
            return None
    return None


def _event(item: Any, observed_at: datetime, source: str | None
           ) -> tuple[EventRecord | None, list[PriceStats], Reject | None]:
    if not isinstance(item, dict) or not text(item.get("id")) or not text(item.get("name")):
        return None, [], Reject(observed_at, MARKETPLACE, source, "event without id or name",
                                raw_fragment(item))
    venue = dig(item, "_embedded", "venues", 0) or {}
    classification = dig(item, "classifications", 0) or {}
    attractions = dig(item, "_embedded", "attractions") or []
    event_id = str(item["id"])
    event = EventRecord(
        marketplace=MARKETPLACE,
        source_event_id=event_id,
        name=str(item["name"]).strip(),
        starts_at=_start(item),
        venue_name=text(venue.get("name")),
        venue_city=text(dig(venue, "city", "name")),
        venue_source_id=text(venue.get("id")),
        category=normalize.category(dig(classification, "genre", "name"),
                                    dig(classification, "segment", "name")),
        performers=tuple(a["name"] for a in attractions if isinstance(a, dict) and a.get("name")),
        url=text(item.get("url")),
        status=_STATUS.get(str(dig(item, "dates", "status", "code") or "onsale").lower(),
                           "onsale"),
        timezone=text(dig(item, "dates", "timezone")) or text(venue.get("timezone")),
        observed_at=observed_at,
    )
    return event, _price_ranges(item, event_id, observed_at), None


def _price_ranges(item: dict[str, Any], event_id: str, observed_at: datetime
                  ) -> list[PriceStats]:
    ranges = [r for r in item.get("priceRanges") or [] if isinstance(r, dict)]
    if not ranges:
        return []
    low_all_in = low_base = high = None
    currency = None
    for r in ranges:
        lo, hi = normalize.to_cents(r.get("min")), normalize.to_cents(r.get("max"))
        currency = currency or text(r.get("currency"))
        if "fee" in str(r.get("type", "")).lower():
            low_all_in = lo if low_all_in is None or (lo is not None and lo < low_all_in) \
                else low_all_in
        else:
            low_base = lo if low_base is None or (lo is not None and lo < low_base) else low_base
        high = hi if high is None or (hi is not None and hi > high) else high
    return [PriceStats(observed_at, MARKETPLACE, event_id, lowest_cents=low_all_in,
                       lowest_base_cents=low_base, highest_cents=high,
                       currency=(currency or "USD").upper())]


def _event_from(source: str | None, data: dict[str, Any]) -> str | None:
    for candidate in (source, dig(data, "picks", 0, "snapshotImageUrl")):
        if candidate:
            match = _EVENT_IN_URL.search(str(candidate))
            if match:
                return match.group(1)
    return None


def _top_picks(data: dict[str, Any], source: str | None, observed_at: datetime,
               event_id: str | None) -> Parsed:
    event_id = event_id or _event_from(source, data)
    offers: dict[str, dict[str, Any]] = {}
    for offer in dig(data, "_embedded", "offer") or []:
        if isinstance(offer, dict) and offer.get("offerId") is not None:
            offers[str(offer["offerId"])] = offer
    out = ListingColumns(MARKETPLACE, observed_at, source)
    picks = data.get("picks") or []
    if not _usual_shape(out, picks, offers, event_id):
        _one_by_one(out, picks, offers, event_id)
    page = data.get("page") or {}
    number = normalize.to_int(page.get("number")) or 0
    total_pages = normalize.to_int(page.get("totalPages"))
    return Parsed("top_picks", out.to_batch(), rejects=out.rejects,
                  page=PageInfo(number=number, size=normalize.to_int(page.get("size")),
                                total_items=normalize.to_int(page.get("totalElements")),
                                total_pages=total_pages,
                                has_more=total_pages is not None and number + 1 < total_pages),
                  refs=[event_id] if event_id else [])


def _usual_shape(out: ListingColumns, picks: Any, offers: dict[str, dict[str, Any]],
                 event_id: str | None) -> bool:
    """Add a page whose picks are all objects with an id, a known offer first and their
    seats listed, column by column; False (nothing added) for any other page."""
    if not isinstance(picks, list) or not all(type(p) is dict for p in picks):
        return False
    ids = [p.get("id") for p in picks]
    named = [p.get("offers") for p in picks]
    seat_lists = [p.get("seats") for p in picks]
    if not (all(type(i) is str and i.strip() for i in ids)
            and all(type(o) is list and o and type(o[0]) is str for o in named)
            and all(type(s) is list and s for s in seat_lists)):
        return False
    chosen = [offers.get(o[0]) for o in named]
    if not all(c is not None for c in chosen):
        return False
    seats, delivery = normalize.seats, normalize.delivery
    areas = [p.get("area") for p in picks]
    out.extend(picks, {
        "listing_id": [i.strip() for i in ids],
        "source_event_id": [event_id] * len(picks),
        "section": [p.get("section") for p in picks],
        "row": [p.get("row") for p in picks],
        "seats": [seats(s) for s in seat_lists],
        "quantity": [len(s) if (q := p.get("quantity")) is None else q
                     for p, s in zip(picks, seat_lists, strict=True)],
        "splits": [None] * len(picks),
        "price_cents": [c.get("faceValue") for c in chosen],
        "fees_cents": [_charges(c.get("charges")) for c in chosen],
        "total_cents": [c.get("totalPrice") for c in chosen],
        "currency": [c.get("currency") for c in chosen],
        "delivery": [delivery(p.get("delivery")) for p in picks],
        "kind": ["resale" if str(p.get("selection", "")).lower() == "resale" else "primary"
                 for p in picks],
        "zone": [(text(a.get("description")) or text(a.get("name"))) if type(a) is dict
                 else None for a in areas],
    })
    return True


def _one_by_one(out: ListingColumns, picks: Any, offers: dict[str, dict[str, Any]],
                event_id: str | None) -> None:
    """Add a page pick by pick, refusing the malformed ones with their reason."""
    for pick in out.objects(picks, "pick"):
        offer_ids = [str(o) for o in pick.get("offers") or []]
        offer = offers.get(offer_ids[0]) if offer_ids else None
        if offer is None:
            out.reject("missing price", pick)
            continue
        fees = _charges(offer.get("charges"))
        seat_list = pick.get("seats") or []
        if not seat_list and pick.get("type", "seats") == "seats":
            out.reject("missing seats", pick)  # a seats pick always names its seats
            continue
        seats = normalize.seats(seat_list)
        quantity = pick.get("quantity")
        if quantity is None:
            quantity = len(seat_list) if isinstance(seat_list, list) and seat_list else None
        listing_id = text(pick.get("id")) or ":".join(
            [offer_ids[0], str(pick.get("section") or ""), str(pick.get("row") or ""),
             ",".join(str(x) for x in seat_list)])
        area = pick.get("area") if isinstance(pick.get("area"), dict) else {}
        kind = "resale" if str(pick.get("selection", "")).lower() == "resale" else "primary"
        out.add(pick, listing_id, event_id, pick.get("section"), pick.get("row"), seats,
                quantity, None, offer.get("faceValue"), fees, offer.get("totalPrice"),
                offer.get("currency"),
                normalize.delivery(pick.get("delivery")), kind,
                text(area.get("description")) or text(area.get("name")))


def _charges(charges: Any) -> Any:
    """The sum of a Top Picks offer's charges, as dollars (exact: Decimal for strings)."""
    amounts = [c.get("amount") for c in charges or [] if isinstance(c, dict)]
    amounts = [a for a in amounts if a is not None]
    if not amounts:
        return None
    if all(isinstance(a, int | float) and not isinstance(a, bool) for a in amounts):
        return sum(amounts) if len(amounts) > 1 else amounts[0]
    cents = [normalize.to_cents(a) for a in amounts]
    if any(c is None for c in cents):
        return None
    return str(Decimal(sum(cents)).scaleb(-2))


def _offers(data: dict[str, Any], source: str | None, observed_at: datetime,
            event_id: str | None) -> Parsed:
    """Commerce offers: primary face values per price zone, as event-level price points.

    They are price tiers, not seats for sale (no section, no quantity), so they become
    ``PriceStats`` (lowest face value, lowest and highest all-in) rather than listings.
    """
    event_id = event_id or _event_from(source, data) or text(dig(data, "metadata",
                                                                 "eventMapping", "id"))
    faces: list[int] = []
    totals: list[int] = []
    currency = None
    rejects: list[Reject] = []
    for offer in data.get("offers") or []:
        attributes = offer.get("attributes") if isinstance(offer, dict) else None
        if not isinstance(attributes, dict):
            rejects.append(Reject(observed_at, MARKETPLACE, source, "offer without attributes",
                                  raw_fragment(offer)))
            continue
        currency = currency or text(attributes.get("currency"))
        for price_row in attributes.get("prices") or []:
            if not isinstance(price_row, dict):
                continue
            face = normalize.to_cents(price_row.get("value"))
            total = normalize.to_cents(price_row.get("total"))
            if face is None and total is None:
                rejects.append(Reject(observed_at, MARKETPLACE, source, "missing price",
                                      raw_fragment(price_row)))
                continue
            if face is not None:
                faces.append(face)
            if total is not None:
                totals.append(total)
    stats = []
    if event_id and (faces or totals):
        stats.append(PriceStats(observed_at, MARKETPLACE, event_id,
                                lowest_cents=min(totals) if totals else None,
                                lowest_base_cents=min(faces) if faces else None,
                                highest_cents=max(totals) if totals else None,
                                currency=(currency or "USD").upper()))
    return Parsed("offers", ListingColumns(MARKETPLACE, observed_at, source).to_batch(),
                  stats=stats, rejects=rejects, refs=[event_id] if event_id else [])
