"""StubHub under ``/stubhub``: the legacy developer API (catalog search, catalog event,
inventory search with section/zone stats, venue configuration). Auth is ``Authorization:
Bearer TOKEN``; errors are the API gateway's ``fault`` (401) and StubHub's ``errors`` bodies.

``currentPrice`` is what a buyer pays per ticket (all-in); ``listingPrice`` is the seller's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import orjson

from sandbox import fastjson
from sandbox.common import (
    BadParameter,
    Request,
    Response,
    dollars,
    iso_z,
    json_response,
)
from sandbox.fastjson import seat_run
from sandbox.market import DELIVERIES, MALFORMED_KINDS, MAX_QTY, Live, listing_id
from sandbox.wire_seatgeek import section_texts, splits
from sandbox.wire_ticketmaster import filter_events
from sandbox.world import WorldEvent, sh_venue_id, slug

M = "stubhub"
#: our delivery names -> StubHub deliveryTypeList ids
DELIVERY_IDS = {"electronic": 1, "instant": 2, "physical": 3, "will_call": 4, "mobile": 5}
_DELIVERY_BY_INDEX = [DELIVERY_IDS[d] for d in DELIVERIES]
_CATEGORY = {"basketball": (30, "Basketball Tickets"), "soccer": (37, "Soccer Tickets"),
             "concert": (1, "Concert Tickets"), "club": (1, "Concert Tickets"),
             "theatre": (174, "Theater Tickets"), "comedy": (173, "Comedy Tickets")}


def unauthorized(missing: bool) -> Response:
    desc = ("Access failure for API: /, version: v3 status: (900902) - Missing Credentials. "
            "Make sure your API invocation call has a header: \"Authorization: Bearer "
            "ACCESS_TOKEN\"") if missing else (
        "Access failure for API: /, version: v3 status: (900901) - Invalid Credentials. Make "
        "sure you have given the correct access token")
    return json_response({"fault": {"code": 900902 if missing else 900901,
                                    "message": "Missing Credentials" if missing
                                    else "Invalid Credentials", "description": desc}}, 401)


def rate_limited() -> Response:
    return json_response({"fault": {"code": 900800, "message": "Message throttled out",
                                    "description": "You have exceeded your quota"}}, 429)


def _error(status: int, code: str, message: str, parameter: str | None = None) -> Response:
    return json_response({"errors": {"error": [{"errorTypeId": "100001" if status == 400
                                                 else "100004", "code": code,
                                                 "message": message,
                                                 "parameter": parameter or ""}]}}, status)


def not_found(what: str = "event") -> Response:
    return _error(404, f"{what}.notFound", f"The {what} was not found", f"{what}Id")


def handle(req: Request) -> Response:
    p = [s for s in req.parts if s]
    try:
        if p == ["search", "catalog", "events", "v3"]:
            return _search(req)
        if p[:3] == ["catalog", "events", "v3"] and len(p) == 4:
            e = req.world.event_for(M, p[3])
            return json_response(catalog_event(req, e)) if e else not_found()
        if p == ["search", "inventory", "v2"]:
            return _inventory(req)
        if (len(p) == 6 and p[:3] == ["catalog", "venues", "v3"]
                and p[4] == "venueConfigurations"):
            return _venue_config(req, p[3], p[5])
    except BadParameter as err:
        return _error(400, f"{err.name}.invalid", f"Invalid value for {err.name}", err.name)
    return _error(404, "resource.notFound", "The resource was not found")


def _int(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    try:
        return req.int_arg(name, default, lo, hi)
    except ValueError:
        raise BadParameter(name) from None


def _search(req: Request) -> Response:
    q = req.query
    events = filter_events(req, req.world.events_on(M), keyword=q.get("q"), city=q.get("city"),
                           classification=None, gte=None, lte=None)
    if q.get("sort", "").startswith("eventDateLocal desc"):
        events.reverse()
    start = _int(req, "start", 0, 0, 10_000_000)
    rows = _int(req, "rows", 10, 0, 500)
    return json_response({"numFound": len(events),
                          "events": [catalog_event(req, e) for e in events[start:start + rows]]})


def catalog_event(req: Request, e: WorldEvent) -> dict:
    eid = int(e.ids[M])
    v = e.venue
    cat_id, cat_name = _CATEGORY[e.category]
    local = e.start_local
    perf = [{"id": 2000 + sum(map(ord, p)) % 7000, "name": p,
             "webURI": f"{slug(p)}-tickets/performer/{2000 + sum(map(ord, p)) % 7000}/",
             "locale": "en_US"} for p in e.performers]
    mappings = [{"namespace": "zv", "id": str(373_000_000 + e.index)}]
    if "ticketmaster" in e.ids:
        mappings.append({"namespace": "ticketmaster", "id": e.ids["ticketmaster"]})
    web = f"{slug(e.name)}-tickets-{local:%m-%d-%Y}/event/{eid}/"
    title = f"{e.name} [{local:%m/%d/%Y}] Tickets on StubHub!"
    return {
        "id": eid, "name": f"{e.name} Tickets",
        "status": {"cancelled": "cancelled", "postponed": "postponed"}.get(e.status, "active"),
        "expiredInd": req.t > e.start, "locale": "en_US", "currencyCode": "USD",
        "eventDateUTC": iso_z(e.start), "eventDateLocal": local.isoformat(timespec="seconds"),
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


def section_name(e: WorldEvent, sec) -> str:
    if sec.name.isdigit():
        return f"{sec.tier} {sec.name}"
    return sec.name.title()


def sh_listings(e: WorldEvent, live: Live) -> list[dict]:
    """The page's listings in the inventory-search shape."""
    secs = e.seat_map.sections
    texts = section_texts(e.seat_map)
    names = [section_name(e, sec) for sec in secs]
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
        dtype = _DELIVERY_BY_INDEX[deliv]
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


def _inventory(req: Request) -> Response:
    raw = req.query.get("eventId")
    if not raw:
        raise BadParameter("eventId")
    e = req.world.event_for(M, raw)
    if e is None:
        return not_found()
    start = _int(req, "start", 0, 0, 10_000_000)
    rows = _int(req, "rows", 20, 0, 500)
    page, n_live = req.model.page(e, M, req.t, start, start + rows)
    qty_all = req.model.quantities(e, M, req.t)
    head = orjson.dumps({"eventId": int(e.ids[M]), "totalListings": n_live,
                         "totalTickets": int(qty_all.sum()),
                         "minQuantity": int(qty_all.min()) if n_live else 0,
                         "maxQuantity": int(qty_all.max()) if n_live else 0})
    items = sh_listings_json(e, page)
    if items is None:  # text that needs escaping: the general path
        items = orjson.dumps(sh_listings(e, page))[1:-1]
    body: dict = {}
    sections = e.seat_map.sections
    stats_wanted = any(req.query.get(f) == "true"
                       for f in ("sectionStats", "zoneStats", "pricingSummary"))
    live = req.model.live(e, M, req.t) if stats_wanted else page
    good = live.malformed == 0
    price, qty = live.price[good], live.qty[good]
    if req.query.get("sectionStats") == "true":
        ids = live.section[good]
        body["section_stats"] = [
            {"sectionId": sections[k].section_id, "sectionName": section_name(e, sections[k]),
             "minTicketPrice": lo, "maxTicketPrice": hi, "averageTicketPrice": avg,
             "minTicketQuantity": qlo, "maxTicketQuantity": qhi, "totalTickets": tickets,
             "totalListings": n}
            for k, lo, hi, avg, qlo, qhi, tickets, n in _group_stats(ids, price, qty)]
    if req.query.get("zoneStats") == "true":
        zone_of = np.array([s.zone_id for s in sections])[live.section[good]]
        names = {s.zone_id: s.tier for s in sections}
        body["zone_stats"] = [
            {"zoneId": k, "zoneName": names[k], "minTicketPrice": lo, "maxTicketPrice": hi,
             "minTicketQuantity": qlo, "maxTicketQuantity": qhi, "totalTickets": tickets,
             "totalListings": n, "averageTicketPrice": avg}
            for k, lo, hi, avg, qlo, qhi, tickets, n in _group_stats(zone_of, price, qty)]
    if req.query.get("pricingSummary") == "true":
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
    body["listingAttributeCategorySummary"] = []
    body["deliveryTypeSummary"] = []
    body["start"] = start
    body["rows"] = len(page)
    return Response(200, b'%s,"listing":[%s],%s' % (head[:-1], items, orjson.dumps(body)[1:]))


def _venue_config(req: Request, venue_id: str, config_id: str) -> Response:
    for v in req.world.venues.values():
        if str(sh_venue_id(v)) != venue_id:
            continue
        for smap in v.maps.values():
            if str(smap.config_id) == config_id:
                return json_response({"venueConfiguration": [{
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
                    "sections": [{"id": s.section_id, "name": section_name_plain(s),
                                  "zoneId": s.zone_id, "zoneName": s.tier,
                                  "rows": list(s.rows), "seatsPerRow": s.seats_per_row,
                                  "generalAdmission": s.general_admission}
                                 for s in smap.sections]}]})
        return not_found("venueConfiguration")
    return not_found("venue")


def section_name_plain(sec) -> str:
    return f"{sec.tier} {sec.name}" if sec.name.isdigit() else sec.name.title()


# -- fast rendering (byte-identical to ``orjson.dumps(sh_listings(...))``) -----------------

_CURRENT = '{"amount":%d.%s,"currency":"USD"}'
_LISTING = ('{{"listingId":%d,"currentPrice":{current},"listingPrice":{{"amount":%d.%s,'
            '"currency":"USD"}},"sectionId":%s,"quantity":%d,"sellerSectionName":%s,'
            '"seatNumbers":%s,"deliveryTypeList":[%d],"deliveryMethodList":[%d],'
            '"dirtyTicketInd":false,%s,"sellerOwnInd":0,"score":0.0,"valuePercentage":%d.%d}}')
_INLINE, _FIELD = _LISTING.format(current=_CURRENT).encode(), _LISTING.format(current="%s").encode()
_DELIVERY_ID = np.array(_DELIVERY_BY_INDEX, dtype=np.int64)
_MISSING_PRICE = 1 + MALFORMED_KINDS[M].index("missing_price")
_NEGATIVE_QTY = 1 + MALFORMED_KINDS[M].index("negative_quantity")
_SPLITS = fastjson.table([
    f'"splitOption":"{int(len(v) > 1)}","ticketSplit":"{min(v)}",'
    f'"splitVector":{orjson.dumps(v).decode()}'
    if (v := splits(q, rule)) else "" for q in range(MAX_QTY + 1) for rule in range(4)])


@dataclasses.dataclass(frozen=True, slots=True)
class _MapText:
    geo: fastjson.MapGeometry
    section_row: np.ndarray  # [row_at] -> 'SECTION_ID,"row":ROW'
    seller: np.ndarray  # [section * 4 + spelling] -> 'SELLER,"sectionName":NAME'
    seats: np.ndarray  # [seats_at * n_sections + section] -> 'SEATS,"zoneId":..,"zoneName":..'


_MAP_TEXT: dict[int, _MapText] = {}


def _map_text(e: WorldEvent) -> _MapText:
    smap = e.seat_map
    text = _MAP_TEXT.get(smap.config_id)
    if text is not None:
        return text
    geo = fastjson.MapGeometry(smap.sections)
    secs = smap.sections
    texts = section_texts(smap)

    def seats(first: int, n: int) -> list[str]:
        run = '"General Admission"' if first == 0 else fastjson.jstr(",".join(seat_run(first, n)))
        return [f'{run},"zoneId":{sec.zone_id},"zoneName":{fastjson.jstr(sec.tier)}'
                for sec in secs]

    text = _MAP_TEXT[smap.config_id] = _MapText(
        geo, geo.row_table(secs, lambda k, row: [
            f'{secs[k].section_id},"row":{fastjson.jstr(row or "GA")}']),
        fastjson.table([f'{fastjson.jstr(texts[k][v])},"sectionName":'
                      f'{fastjson.jstr(section_name(e, sec))}'
                      for k, sec in enumerate(secs) for v in range(4)]),
        geo.seat_table(seats, len(secs)))
    return text


def sh_listings_json(e: WorldEvent, live: Live) -> bytes | None:
    """``sh_listings`` as JSON array items (without the brackets), rendered from columns;
    None when this event's text cannot take the fast path."""
    if not fastjson.plain_map(e.seat_map):
        return None
    if not len(live):
        return b""
    text = _map_text(e)
    geo = text.geo
    k, r, q, bad = live.section, live.row, live.qty, live.malformed
    value = np.minimum(np.rint(100.0 * live.fair / np.maximum(live.total, 1) * 10), 1000)
    value = value.astype(np.int64)
    current = list(fastjson.money(live.total))
    template = _INLINE
    qty = q
    if np.count_nonzero(bad):
        qty = np.where(bad == _NEGATIVE_QTY, -q, q)
        if (bad == _MISSING_PRICE).any():
            current = [fastjson.nullify(fastjson.column(_CURRENT, current), bad == _MISSING_PRICE)]
            template = _FIELD
    delivery = _DELIVERY_ID[live.delivery].tolist()
    return fastjson.rows(template, [
        (listing_id(M, e, 0) + live.slot).tolist(), *current, *fastjson.money(live.price),
        text.section_row[geo.row_at(k, r)].tolist(), qty.tolist(),
        text.seller[k * 4 + live.spelling].tolist(),
        text.seats[geo.seats_at(r, live.seat0, q) * len(e.seat_map.sections) + k].tolist(),
        delivery, delivery, _SPLITS[q * 4 + live.split].tolist(),
        (value // 10).tolist(), (value % 10).tolist()])
