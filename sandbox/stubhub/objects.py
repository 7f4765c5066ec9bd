"""StubHub's JSON objects built from the world: catalog events, inventory listings with
their section / zone / pricing stats, and venue configurations.

``sh_listings`` is the readable definition of the inventory listing format (the truth reads
it, and ``sandbox.stubhub.fastjson`` must render exactly its bytes). ``currentPrice`` is
what a buyer pays per ticket (all-in); ``listingPrice`` is the seller's.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from sandbox.common import dollars, iso_z, section_texts, splits
from sandbox.market import DELIVERIES, MALFORMED_KINDS, Live, listing_id
from sandbox.world import PACIFIC, WorldEvent, sh_venue_id, slug, start_on, title_on

if TYPE_CHECKING:
    from sandbox.common import Request
    from sandbox.venues import SeatMap, Section, Venue

M = "stubhub"
#: our delivery names -> StubHub deliveryTypeList ids
_DELIVERY_IDS = {"electronic": 1, "instant": 2, "physical": 3, "will_call": 4, "mobile": 5}
#: StubHub deliveryTypeList id per index into ``sandbox.market.DELIVERIES``
DELIVERY_BY_INDEX = [_DELIVERY_IDS[d] for d in DELIVERIES]
_CATEGORY = {"basketball": (30, "Basketball Tickets"), "soccer": (37, "Soccer Tickets"),
             "concert": (1, "Concert Tickets"), "club": (1, "Concert Tickets"),
             "theatre": (174, "Theater Tickets"), "comedy": (173, "Comedy Tickets")}


def catalog_event(req: Request, e: WorldEvent) -> dict:
    eid = int(e.ids[M])
    v = e.venue
    cat_id, cat_name = _CATEGORY[e.category]
    start = start_on(e, M)
    local = datetime.fromtimestamp(start, PACIFIC)
    name = title_on(e, M)
    perf = [{"id": 2000 + sum(map(ord, p)) % 7000, "name": p,
             "webURI": f"{slug(p)}-tickets/performer/{2000 + sum(map(ord, p)) % 7000}/",
             "locale": "en_US"} for p in e.performers]
    mappings = [{"namespace": "zv", "id": str(373_000_000 + e.index)}]
    if "ticketmaster" in e.ids:
        wrong = [q.split("=", 1)[1] for q in e.quirks if q.startswith("stubhub:wrong-ref=")]
        mappings.append({"namespace": "ticketmaster",
                         "id": wrong[0] if wrong else e.ids["ticketmaster"]})
    web = f"{slug(e.name)}-tickets-{local:%m-%d-%Y}/event/{eid}/"
    title = f"{e.name} [{local:%m/%d/%Y}] Tickets on StubHub!"
    return {
        "id": eid, "name": f"{name} Tickets",
        "status": {"cancelled": "cancelled", "postponed": "postponed"}.get(e.status, "active"),
        "expiredInd": req.t > e.start, "locale": "en_US", "currencyCode": "USD",
        "eventDateUTC": iso_z(start), "eventDateLocal": local.isoformat(timespec="seconds"),
        "timezone": "US/Pacific", "bobId": "1", "eventUrl": f"{slug(e.name)}-{eid}",
        "webURI": web, "allowedViewingDomains": ["stubhub.com"],
        "categories": [{"id": cat_id, "name": cat_name,
                        "webURI": f"{slug(cat_name)}/category/{cat_id}/", "locale": "en_US"}],
        "groupings": [{"id": 81_000 + cat_id, "name": f"{e.genre} Tickets",
                       "webURI": f"{slug(e.genre)}-tickets/grouping/{81_000 + cat_id}/",
                       "locale": "en_US"}],
        "performers": perf,
        "geography": {"id": 617, "name": "Portland", "webURI": "portland-tickets/geography/617/",
                      "locale": "en_US"},
        "ancestors": {"categories": [{"id": 28, "name": "Sports tickets", "url": "sports-tickets",
                                      "webURI": "sports-tickets/category/28/",
                                      "locale": "en_US"}],
                      "groupings": [{"id": 115, "name": f"{e.genre} Tickets",
                                     "url": slug(e.genre), "webURI": f"{slug(e.genre)}/115/",
                                     "locale": "en_US"}],
                      "performers": [{k: p[k] for k in ("id", "name", "webURI")} | {
                          "url": slug(p["name"])} for p in perf],
                      "geographies": [{"id": 196976, "name": "United States",
                                       "url": "united-states-tickets",
                                       "webURI": "united-states-tickets/geography/196976/",
                                       "locale": "en_US"}]},
        "externalEventMappings": mappings,
        "venue": {"id": sh_venue_id(v), "name": v.name, "venueInfoUrl": slug(v.name),
                  "venueEventsUrl": f"{slug(v.name)}-tickets",
                  "webURI": f"{slug(v.name)}-tickets/venue/{sh_venue_id(v)}/",
                  "address1": v.address, "locality": v.city, "postalCode": v.postal_code,
                  "state": v.state, "country": "US",
                  "configurationId": str(e.seat_map.config_id), "blendedIndicator": False},
        "seoMeta": {"metaDescription": f"Buy {e.name} tickets on StubHub!",
                    "seoDescription": e.name, "seoTitle": f"{e.name} Tickets",
                    "keywords": f"{e.name}, tickets", "title": title, "locale": "en_US"},
        "urls": [{"url": f"https://www.stubhub.com/{web}", "type": "TICKET",
                  "anchorText": "Buy Tickets"}],
        "images": [{"url": f"http://i.stubhubstatic.com/{eid}.jpg",
                    "urlSsl": f"https://i.stubhubstatic.com/{eid}.jpg", "type": "REGULAR",
                    "resizableInd": True, "credit": "StubHub", "source": "StubHub",
                    "primaryInd": True, "height": "1000", "width": "1600", "locale": "en_US"}],
        "seatTraits": [{"id": 101, "name": "Aisle", "type": "Ticket Feature"}],
        "eventAttributes": {"gameType": "REGULAR", "eventType": "Not Known",
                            "logisticsPath": f"28/{cat_id}/115/{eid}", "parkingEventId": []},
        "displayAttributes": {"title": title, "hiddenInd": False, "locale": "en_US",
                              "hideEventDate": False, "hideEventTime": False,
                              "integratedEventInd": True},
        "mobileAttributes": {"enableApplePassbook": True},
        "dynamicAttributes": [{"name": "act_primary", "value": e.performers[0],
                               "type": "stubhub_display_attrib", "status": "active",
                               "locale": "en_US", "dataType": "String"}],
        "dateLastChance": local.isoformat(timespec="seconds"),
    }


def section_name(sec: Section) -> str:
    """The section as StubHub names it ("Upper Level 321", "Floor A")."""
    return f"{sec.tier} {sec.name}" if sec.name.isdigit() else sec.name.title()


def sh_listings(e: WorldEvent, live: Live) -> list[dict]:
    """The page's listings in the inventory-search shape."""
    secs = e.seat_map.sections
    texts = section_texts(e.seat_map)
    names = [section_name(sec) for sec in secs]
    base_id = listing_id(M, e, 0)
    total = np.round(live.total / 100.0, 2).tolist()
    price = np.round(live.price / 100.0, 2).tolist()
    value = np.minimum(np.round(100.0 * live.fair / np.maximum(live.total, 1), 1), 100.0)
    value_l = value.tolist()
    out = []
    for i, (k, r, q, s0, split, deliv, slot, spell, bad) in enumerate(zip(
            live.section.tolist(), live.row.tolist(), live.qty.tolist(), live.seat0.tolist(),
            live.split.tolist(), live.delivery.tolist(), live.slot.tolist(),
            live.spelling.tolist(), live.malformed.tolist(), strict=True)):
        sec = secs[k]
        reason = MALFORMED_KINDS[M][bad - 1] if bad else None
        vector = splits(q, split)
        dtype = DELIVERY_BY_INDEX[deliv]
        out.append({
            "listingId": base_id + slot,
            "currentPrice": None if reason == "missing_price" else {
                "amount": total[i], "currency": "USD"},
            "listingPrice": {"amount": price[i], "currency": "USD"},
            "sectionId": sec.section_id, "row": sec.rows[r] if r >= 0 else "GA",
            "quantity": -q if reason == "negative_quantity" else q,
            "sellerSectionName": texts[k][spell], "sectionName": names[k],
            "seatNumbers": "General Admission" if r < 0 else ",".join(
                [str(x) for x in range(s0, s0 + q)]),
            "zoneId": sec.zone_id, "zoneName": sec.tier, "deliveryTypeList": [dtype],
            "deliveryMethodList": [dtype], "dirtyTicketInd": False,
            "splitOption": "0" if len(vector) == 1 else "1", "ticketSplit": str(min(vector)),
            "splitVector": vector, "sellerOwnInd": 0, "score": 0.0,
            "valuePercentage": value_l[i],
        })
    return out


def _group_stats(ids: np.ndarray, price: np.ndarray, qty: np.ndarray) -> list[tuple]:
    out = []
    for key_ in np.unique(ids):
        sel = ids == key_
        p, q = price[sel], qty[sel]
        out.append((int(key_), dollars(int(p.min())), dollars(int(p.max())),
                    round(float(p.mean()) / 100, 3), int(q.min()), int(q.max()), int(q.sum()),
                    int(sel.sum())))
    return out


def inventory_stats(e: WorldEvent, live: Live, *, sections: bool, zones: bool,
                    pricing: bool) -> dict[str, Any]:
    """The stats an inventory search asks for, over the well-formed listings of ``live``,
    in listing (seller) price."""
    body: dict[str, Any] = {}
    secs = e.seat_map.sections
    good = live.malformed == 0
    price, qty = live.price[good], live.qty[good]
    if sections:
        ids = live.section[good]
        body["section_stats"] = [
            {"sectionId": secs[k].section_id, "sectionName": section_name(secs[k]),
             "minTicketPrice": lo, "maxTicketPrice": hi, "averageTicketPrice": avg,
             "minTicketQuantity": qlo, "maxTicketQuantity": qhi, "totalTickets": tickets,
             "totalListings": n}
            for k, lo, hi, avg, qlo, qhi, tickets, n in _group_stats(ids, price, qty)]
    if zones:
        zone_of = np.array([s.zone_id for s in secs])[live.section[good]]
        names = {s.zone_id: s.tier for s in secs}
        body["zone_stats"] = [
            {"zoneId": k, "zoneName": names[k], "minTicketPrice": lo, "maxTicketPrice": hi,
             "minTicketQuantity": qlo, "maxTicketQuantity": qhi, "totalTickets": tickets,
             "totalListings": n, "averageTicketPrice": avg}
            for k, lo, hi, avg, qlo, qhi, tickets, n in _group_stats(zone_of, price, qty)]
    if pricing:
        summary = {"name": "listingPrice",
                   "minTicketPrice": dollars(int(price.min())) if price.size else 0.0,
                   "averageTicketPrice": round(float(price.mean()) / 100, 3)
                   if price.size else 0.0,
                   "maxTicketPrice": dollars(int(price.max())) if price.size else 0.0,
                   "totalListings": int(price.size),
                   "percentiles": [{"name": 95.0, "value": float(np.percentile(price, 95)) / 100
                                    if price.size else 0.0}]}
        body["pricingSummary"] = summary
        body["eventPricingSummary"] = summary
    return body


def venue_configuration(v: Venue, smap: SeatMap) -> dict[str, Any]:
    """One venue configuration (a seat map) with its sections and rows."""
    return {"venueConfiguration": [{
        "id": smap.config_id, "description": f"{smap.name.title()} - Flash",
        "venueId": sh_venue_id(v), "active": True,
        "staticImageUrl": f"stubhub_{smap.config_id}_{slug(v.name)}.png",
        "generalAdmissionOnly": all(s.general_admission for s in smap.sections),
        "venueConfigurationVersion": 9,
        "map": {"mapFormatId": 5, "mapType": 0, "rowOverlaySwitch": False,
                "viewFromSection": True, "sectionScrubbing": True,
                "rowScrubbing": True},
        "attributes": {"reco": {"showTicketRecoInd": True}},
        "blendedIndicator": False, "seatLevelDataIndicator": False,
        "sections": [{"id": s.section_id, "name": section_name(s),
                      "zoneId": s.zone_id, "zoneName": s.tier,
                      "rows": list(s.rows), "seatsPerRow": s.seats_per_row,
                      "generalAdmission": s.general_admission}
                     for s in smap.sections]}]}
