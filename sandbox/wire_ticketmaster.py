"""Ticketmaster under ``/ticketmaster``: Discovery v2, Commerce v2 offers, Top Picks v1.

Auth is ``?apikey=``; errors use Apigee ``fault`` bodies (401, 429) and Discovery
``errors[]`` bodies (400 bad parameter, 404 unknown id, deep paging past 1,000 results).
``_links`` hrefs are relative to the marketplace base URL, as on the real service.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

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
    money_str,
    parse_when,
)
from sandbox.fastjson import seat_run
from sandbox.hashing import key
from sandbox.market import FEES, MALFORMED_KINDS, Live, tm_offer_codes, tm_offer_ids
from sandbox.venues import SeatMap
from sandbox.world import WorldEvent, b62, slug, tm_attraction_id, tm_venue_id

M = "ticketmaster"
_SEGMENTS = {"Sports": "KZFzniwnSyZfZ7v7nE", "Music": "KZFzniwnSyZfZ7v7nJ",
             "Arts & Theatre": "KZFzniwnSyZfZ7v7na"}
_STATUS = {"onsale": "onsale", "soldout": "offsale", "postponed": "postponed",
           "cancelled": "cancelled"}


def unauthorized(missing: bool) -> Response:
    if missing:
        fault = {"faultstring": "Failed to resolve API Key variable request.queryparam.apikey",
                 "detail": {"errorcode": "steps.oauth.v2.FailedToResolveAPIKey"}}
    else:
        fault = {"faultstring": "Invalid ApiKey",
                 "detail": {"errorcode": "oauth.v2.InvalidApiKey"}}
    return json_response({"fault": fault}, 401)


def rate_limited() -> Response:
    return json_response({"fault": {
        "faultstring": "Rate limit quota violation. Quota limit exceeded. Identifier : sandbox",
        "detail": {"errorcode": "policies.ratelimit.QuotaViolation"}}}, 429)


def _error(status: int, code: str, detail: str) -> Response:
    return json_response({"errors": [{"code": code, "detail": detail, "status": str(status),
                                      "_links": {"about": {
                                          "href": f"/discovery/v2/errors.html#{code}"}}}]},
                         status)


def not_found(what: str) -> Response:
    return _error(404, "DIS1004", f"Resource not found with provided criteria (locale=en-us, "
                                  f"id={what})")


def bad_parameter(err: BadParameter) -> Response:
    return _error(400, "DIS1015", f"Query param with name {err.name} has an invalid value.")


def handle(req: Request) -> Response:
    p = req.parts
    try:
        if p[:2] == ["discovery", "v2"] and len(p) == 3 and p[2] == "events.json":
            return _events(req)
        if p[:3] == ["discovery", "v2", "events"] and len(p) == 4 and p[3].endswith(".json"):
            e = req.world.event_for(M, p[3].removesuffix(".json"))
            return json_response(event_obj(req, e)) if e else not_found(p[3][:-5])
        if p[:3] == ["commerce", "v2", "events"] and len(p) == 5 and p[4] == "offers.json":
            e = req.world.event_for(M, p[3])
            return json_response(offers_obj(req, e)) if e else not_found(p[3])
        if p[:3] == ["top-picks", "v1", "events"] and len(p) == 4:
            e = req.world.event_for(M, p[3].removesuffix(".json"))
            return _top_picks(req, e) if e else not_found(p[3])
    except BadParameter as err:
        return bad_parameter(err)
    return _error(404, "DIS1001", "Resource not found")


def _int(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    try:
        return req.int_arg(name, default, lo, hi)
    except ValueError:
        raise BadParameter(name, req.query.get(name)) from None


def filter_events(req: Request, events: list[WorldEvent], *, keyword: str | None,
                  city: str | None, classification: str | None, gte: str | None,
                  lte: str | None) -> list[WorldEvent]:
    """Event search shared by the marketplaces' list endpoints."""
    try:
        lo = parse_when(gte) if gte else None
        hi = parse_when(lte) if lte else None
    except ValueError:
        raise BadParameter("startDateTime" if gte else "endDateTime") from None
    out = []
    kw = keyword.lower() if keyword else None
    cls = classification.lower() if classification else None
    for e in events:
        if kw and kw not in e.name.lower() and not any(kw in p.lower() for p in e.performers):
            continue
        if city and city.lower() != e.venue.city.lower():
            continue
        if cls and cls not in (e.category, e.genre.lower(), e.segment.lower(),
                               "nba" if e.category == "basketball" else "",
                               "theater" if e.category == "theatre" else ""):
            continue
        if lo is not None and e.start < lo:
            continue
        if hi is not None and e.start > hi:
            continue
        out.append(e)
    return out


def _events(req: Request) -> Response:
    q = req.query
    size = _int(req, "size", 20, 1, 200)
    page = _int(req, "page", 0, 0, 10_000)
    if page * size >= 1000:
        return _error(400, "DIS1035", "API Limits Exceeded: Max paging depth exceeded. "
                                      "(page * size) must be less than 1,000")
    events = filter_events(req, req.world.events_on(M), keyword=q.get("keyword"),
                           city=q.get("city"), classification=q.get("classificationName"),
                           gte=q.get("startDateTime"), lte=q.get("endDateTime"))
    sort = q.get("sort", "date,asc")
    if sort.startswith("name"):
        events.sort(key=lambda e: e.name, reverse=sort.endswith("desc"))
    elif sort.startswith("date"):
        events.sort(key=lambda e: e.start, reverse=sort.endswith("desc"))
    total = len(events)
    pages = (total + size - 1) // size
    chunk = events[page * size : (page + 1) * size]
    base = {k: v for k, v in q.items() if k not in ("apikey", "page")}

    def link(n: int) -> dict:
        return {"href": "/discovery/v2/events.json?" + urlencode({**base, "page": n}),
                "templated": False}

    links = {"self": link(page), "first": link(0)}
    if page + 1 < pages and (page + 1) * size < 1000:
        links["next"] = link(page + 1)
    if page > 0:
        links["prev"] = link(page - 1)
    if pages:
        links["last"] = link(min(pages - 1, (999 // size)))
    body: dict = {"_links": links}
    if chunk:
        body["_embedded"] = {"events": [event_obj(req, e) for e in chunk]}
    body["page"] = {"size": size, "totalElements": total, "totalPages": pages, "number": page}
    return json_response(body)


def _images(seed_text: str) -> list[dict]:
    h = b62(key("img", seed_text), 8)
    return [{"ratio": r, "url": f"https://s1.ticketm.net/dam/a/{h[:3]}/{h}_{name}.jpg",
             "width": w, "height": ht, "fallback": False}
            for r, name, w, ht in (("16_9", "RETINA_LANDSCAPE_16_9", 1136, 639),
                                   ("3_2", "RETINA_PORTRAIT_3_2", 640, 427),
                                   ("4_3", "CUSTOM", 305, 225))]


def _classification(e: WorldEvent) -> list[dict]:
    return [{"primary": True,
             "segment": {"id": _SEGMENTS[e.segment], "name": e.segment},
             "genre": {"id": "KnvZfZ7v" + b62(key("genre", e.genre), 3), "name": e.genre},
             "subGenre": {"id": "KZazBEonSMnZfZ7v" + b62(key("sub", e.genre), 3),
                          "name": {"basketball": "NBA", "soccer": "MLS"}.get(e.category,
                                                                             e.genre)}}]


def venue_obj(e: WorldEvent) -> dict:
    v = e.venue
    vid = tm_venue_id(v)
    return {"name": v.name, "type": "venue", "id": vid, "test": False,
            "url": f"https://www.ticketmaster.com/{slug(v.name)}-tickets/venue/{v.number}",
            "locale": "en-us", "postalCode": v.postal_code, "timezone": v.timezone,
            "city": {"name": v.city}, "state": {"name": "Oregon", "stateCode": v.state},
            "country": {"name": "United States Of America", "countryCode": "US"},
            "address": {"line1": v.address},
            "location": {"longitude": f"{v.lon:.8f}", "latitude": f"{v.lat:.8f}"},
            "markets": [{"id": "42"}], "dmas": [{"id": 351}],
            "_links": {"self": {"href": f"/discovery/v2/venues/{vid}?locale=en-us"}}}


def _attraction(e: WorldEvent, name: str) -> dict:
    aid = tm_attraction_id(name)
    return {"name": name, "type": "attraction", "id": aid, "test": False,
            "url": f"https://www.ticketmaster.com/{slug(name)}-tickets/artist/{aid[-5:]}",
            "locale": "en-us", "images": _images(name), "classifications": _classification(e),
            "_links": {"self": {"href": f"/discovery/v2/attractions/{aid}?locale=en-us"}}}


def event_obj(req: Request, e: WorldEvent) -> dict:
    local = e.start_local
    eid = e.ids[M]
    obj: dict = {
        "name": e.name, "type": "event", "id": eid, "test": False,
        "url": f"https://www.ticketmaster.com/event/{key(e.uid, 'tmurl') % 16**16:016X}",
        "locale": "en-us", "images": _images(e.name),
        "sales": {"public": {"startDateTime": iso_z(req.world.start - 30 * 86_400),
                             "startTBD": False, "endDateTime": iso_z(e.start - 2 * 3600)}},
        "dates": {"start": {"localDate": local.strftime("%Y-%m-%d"),
                            "localTime": local.strftime("%H:%M:%S"),
                            "dateTime": iso_z(e.start), "dateTBD": False, "dateTBA": False,
                            "timeTBA": False, "noSpecificTime": False},
                  "timezone": e.venue.timezone, "status": {"code": _STATUS[e.status]}},
        "classifications": _classification(e),
        "promoter": {"id": str(400 + e.venue.number)},
        "pleaseNote": "Mobile entry only. Bags larger than 14x14x6 inches are not permitted.",
    }
    zones = _zones(e)
    if e.status == "onsale" and zones:
        obj["priceRanges"] = [{"type": "standard", "currency": "USD",
                               "min": dollars(min(z[2] for z in zones)),
                               "max": dollars(max(z[2] for z in zones))}]
    attractions = [_attraction(e, p) for p in e.performers]
    obj["_links"] = {"self": {"href": f"/discovery/v2/events/{eid}?locale=en-us"},
                     "attractions": [a["_links"]["self"] for a in attractions],
                     "venues": [{"href": f"/discovery/v2/venues/{tm_venue_id(e.venue)}"
                                         "?locale=en-us"}]}
    obj["_embedded"] = {"venues": [venue_obj(e)], "attractions": attractions}
    return obj


def _zones(e: WorldEvent) -> list[tuple[str, str, int]]:
    """Price zones (id, name, face cents) from the seat map's tiers, priciest first."""
    tiers: dict[str, float] = {}
    for s in e.seat_map.sections:
        tiers[s.tier] = max(tiers.get(s.tier, 0.0), s.value)
    ranked = sorted(tiers.items(), key=lambda kv: -kv[1])
    return [(str(i + 1), name, int(round(e.base_cents * value * 0.85 / 50.0) * 50))
            for i, (name, value) in enumerate(ranked)]


def offers_obj(req: Request, e: WorldEvent) -> dict:
    """Commerce v2 offers: primary face values per price zone with fees and taxes."""
    zones = _zones(e)
    rate, fixed = FEES[(M, "primary")]
    std, vip = "000000000001", "0000" + b62(key(e.uid, "vip"), 4).upper() + "0006"
    zone_refs = [{"id": z[0], "type": "price-zones"} for z in zones]
    area_refs = [{"id": str(10 + int(z[0])), "type": "areas"} for z in zones]
    prices = []
    for z, area in zip(zones, area_refs, strict=True):
        prices.append({"type": "offered-prices",
                       "attributes": {"currency": "USD", "value": money_str(z[2])},
                       "relationships": {"offers": {"data": [{"id": std, "type": "offers"}]},
                                         "priceZones": {"data": [{"id": z[0],
                                                                  "type": "price-zones"}]},
                                         "areas": {"data": [area]}}})

    def price_entry(zone_id: str, face: int) -> dict:
        service = round(face * rate)
        return {"priceZone": zone_id, "value": money_str(face),
                "total": money_str(face + service + fixed),
                "fees": [{"value": money_str(service), "label": "Service", "type": "service"},
                         {"value": money_str(fixed), "label": "Facility",
                          "type": "facility"}],
                "taxes": [{"value": "0.00", "label": "Face Value Tax",
                           "type": "face_value_tax"}]}

    offers = [{"id": std, "type": "offers",
               "attributes": {"name": "Standard Ticket", "description": "Standard Admission",
                              "rank": 0, "offerDetails": {"link": "", "linkText": "",
                                                          "text": ""},
                              "offerType": "DEFAULT", "currency": "USD",
                              "prices": [price_entry(z[0], z[2]) for z in zones],
                              "limit": {"min": 1, "max": 8, "multiples": 1}},
               "relationships": {"areas": {"data": area_refs},
                                 "priceZones": {"data": zone_refs},
                                 "products": {"data": [{"id": e.ids[M], "type": "products"}]}}}]
    if e.category == "concert":
        face = zones[0][2] * 4
        offers.append({"id": vip, "type": "offers",
                       "attributes": {"name": "VIP1", "description": "VIP Experience Package",
                                      "rank": 1, "offerDetails": {
                                          "link": "https://www.ticketmaster.com/vip",
                                          "linkText": "See Full Package Details!",
                                          "text": "Premium seat, merchandise and early entry."},
                                      "offerType": "SPECIAL", "currency": "USD",
                                      "prices": [price_entry(zones[0][0], face)],
                                      "limit": {"min": 1, "max": 4, "multiples": 1}},
                       "relationships": {"areas": {"data": area_refs[:1]},
                                         "priceZones": {"data": zone_refs[:1]},
                                         "products": {"data": [{"id": e.ids[M],
                                                                "type": "products"}]}}})
    if e.status in ("soldout", "cancelled"):
        offers, prices = [], []
    return {
        "limits": {"max": 8},
        "prices": {"data": prices},
        "metadata": {"eventMapping": {"id": e.ids[M], "type": "event",
                                      "source": {"name": "ticketmaster",
                                                 "id": f"{key(e.uid, 'tmurl') % 16**16:016X}"}}},
        "offers": offers,
        "_embedded": {
            "priceZones": {"data": [{"id": z[0], "type": "price-zones",
                                     "attributes": {"currency": "USD", "name": z[1]},
                                     "relationships": {"offers": {"data": [
                                         {"id": std, "type": "offers"}]},
                                         "areas": {"data": [a]}}}
                                    for z, a in zip(zones, area_refs, strict=True)]},
            "areas": {"data": [{"id": a["id"], "type": "areas",
                                "attributes": {"rank": i, "name": z[1].upper(),
                                               "areaType": "AREA"},
                                "relationships": {"areas": {},
                                                  "offers": {"data": [{"id": std,
                                                                       "type": "offers"}]},
                                                  "priceZones": {"data": [{
                                                      "id": z[0], "type": "price-zones"}]}}}
                               for i, (z, a) in enumerate(zip(zones, area_refs, strict=True))]},
            "passwords": {"data": []},
        },
    }


def pick_listing_id(offer_id: str, section: str, row: str, seats: list[str]) -> str:
    """The listing id rule the spiders apply: offer id + section + row + seats."""
    return f"{offer_id}:{section}:{row}:{','.join(seats)}"


def _top_picks(req: Request, e: WorldEvent) -> Response:
    size = _int(req, "size", 20, 1, 200)
    page = _int(req, "page", 0, 0, 1_000_000)
    quantity = _int(req, "quantity", 0, 0, 50)
    if quantity:
        live = req.model.live(e, M, req.t)
        keep = np.flatnonzero(live.qty >= quantity)
        total = int(keep.size)
        chosen = keep[page * size : (page + 1) * size]
        live = live.select(chosen)
    else:
        live, total = req.model.page(e, M, req.t, page * size, (page + 1) * size)
    head = orjson.dumps({"number": page, "size": size, "totalElements": total,
                         "totalPages": (total + size - 1) // size})
    fast = tm_picks_json(e, live)
    if fast is None:  # text that needs escaping: the general path
        picks, offers = tm_picks(e, live)
        fast = orjson.dumps(picks)[1:-1], orjson.dumps(offers)[1:-1]
    return Response(200, b'{"page":%s,"picks":[%s],"_embedded":{"offer":[%s]}}'
                    % (head, *fast))


def tm_picks(e: WorldEvent, live: Live) -> tuple[list[dict], list[dict]]:
    """Picks and their embedded offers for a page of live listings."""
    secs = e.seat_map.sections
    offer_ids = tm_offer_ids(e, live.slot)
    face = np.round(live.price / 100.0, 2).tolist()
    total = np.round(live.total / 100.0, 2).tolist()
    fees = (live.total - live.price).tolist()
    snapshot = f"https://app.ticketmaster.com/maps/geometry/3/event/{e.ids[M]}/image?section="
    fac = {True: FEES[(M, "primary")][1], False: FEES[(M, "resale")][1]}
    picks, offers = [], []
    for i, (k, r, q, s0, primary, bad) in enumerate(zip(
            live.section.tolist(), live.row.tolist(), live.qty.tolist(), live.seat0.tolist(),
            live.primary.tolist(), live.malformed.tolist(), strict=True)):
        sec = secs[k]
        reason = MALFORMED_KINDS[M][bad - 1] if bad else None
        row = sec.rows[r] if r >= 0 else "GA"
        if reason == "empty_seats":
            seats: list[str] = []
        elif r >= 0:
            seats = [str(x) for x in range(s0, s0 + q)]
        else:
            seats = [f"GA{x}" for x in range(1, q + 1)]
        oid = offer_ids[i]
        facility = fac[primary]
        picks.append({
            "id": pick_listing_id(oid, sec.name, row, seats), "type": "seats",
            "quality": round(min(1.0, sec.value / 5.0), 6), "section": sec.name,
            "selection": "standard" if primary else "resale", "row": row,
            "descriptions": ["Full View"],
            "area": {"id": sec.zone_id, "name": sec.tier_code, "description": sec.tier.upper()},
            "snapshotImageUrl": snapshot + sec.name, "offers": [oid], "seats": seats})
        missing = reason == "missing_price"
        offers.append({
            "offerId": oid, "name": "Standard Ticket" if primary else "Resale Ticket",
            "ticketTypeId": "000000000001" if primary else "000000000002",
            "priceLevelId": str(sec.zone_id % 100),
            "description": "Standard Ticket" if primary else "Verified Resale Ticket",
            "currency": "USD", "faceValue": None if missing else face[i],
            "totalPrice": None if missing else total[i],
            "charges": [{"reason": "service", "type": "fee",
                         "amount": round((fees[i] - facility) / 100.0, 2)},
                        {"reason": "facility", "type": "fee", "amount": facility / 100.0}]})
    return picks, offers


# -- fast rendering (byte-identical to ``orjson.dumps`` of ``tm_picks(...)``) -------------

_FACE = '"faceValue":%d.%s,"totalPrice":%d.%s'
_OFFER = ('{{"offerId":"%s",%s{face},"charges":[{{"reason":"service","type":"fee","amount":'
          '%d.%s}},{{"reason":"facility","type":"fee","amount":%s}}]}}')
_OFFER_INLINE, _OFFER_FIELD = _OFFER.format(face=_FACE).encode(), _OFFER.format(face="%s").encode()
_FACILITY = fastjson.table([orjson.dumps(FEES[(M, kind)][1] / 100.0).decode()
                          for kind in ("resale", "primary")])
_EMPTY_SEATS = 1 + MALFORMED_KINDS[M].index("empty_seats")
_MISSING_PRICE = 1 + MALFORMED_KINDS[M].index("missing_price")


@dataclasses.dataclass(frozen=True, slots=True)
class _MapText:
    geo: fastjson.MapGeometry
    sec_row: np.ndarray  # [row_at] -> 'SECTION:ROW:' (inside the pick id)
    middle: np.ndarray  # [row_at * 2 + primary] -> '","type":"seats", ..."snapshotImageUrl":"'
    name: np.ndarray  # [section] -> section name (inside the snapshot URL)
    seat_ids: np.ndarray  # [seats_at] -> "5,6" / "GA1,GA2" (inside the pick id)
    seats: np.ndarray  # [seats_at] -> '["5","6"]'
    offer: np.ndarray  # [section * 2 + primary] -> '"name":..,"currency":"USD",'


_MAP_TEXT: dict[int, _MapText] = {}


def _map_text(smap: SeatMap) -> _MapText:
    text = _MAP_TEXT.get(smap.config_id)
    if text is not None:
        return text
    geo = fastjson.MapGeometry(smap.sections)
    sections = smap.sections

    def sec_row(k: int, row: str | None) -> list[str]:
        return [f"{sections[k].name}:{row or 'GA'}:"]

    def middle(k: int, row: str | None) -> list[str]:
        sec = sections[k]
        area = orjson.dumps({"id": sec.zone_id, "name": sec.tier_code,
                             "description": sec.tier.upper()}).decode()
        quality = orjson.dumps(round(min(1.0, sec.value / 5.0), 6)).decode()
        return [f'","type":"seats","quality":{quality},"section":{fastjson.jstr(sec.name)},'
                f'"selection":"{selection}","row":{fastjson.jstr(row or "GA")},'
                f'"descriptions":["Full View"],"area":{area},"snapshotImageUrl":"'
                for selection in ("resale", "standard")]

    def seats(first: int, n: int) -> list[str]:
        return [f"GA{x}" for x in range(1, n + 1)] if first == 0 else list(seat_run(first, n))

    offers = []
    for sec in sections:
        for primary in (False, True):
            name = "Standard Ticket" if primary else "Resale Ticket"
            offers.append(
                f'"name":"{name}","ticketTypeId":"00000000000{2 - primary}",'
                f'"priceLevelId":"{sec.zone_id % 100}","description":'
                f'"{"Standard Ticket" if primary else "Verified Resale Ticket"}",'
                '"currency":"USD",')
    text = _MAP_TEXT[smap.config_id] = _MapText(
        geo, geo.row_table(sections, sec_row), geo.row_table(sections, middle, 2),
        fastjson.table([sec.name for sec in sections]),
        geo.seat_table(lambda first, n: [",".join(seats(first, n))]),
        geo.seat_table(lambda first, n: [orjson.dumps(seats(first, n)).decode()]),
        fastjson.table(offers))
    return text


def tm_picks_json(e: WorldEvent, live: Live) -> tuple[bytes, bytes] | None:
    """``tm_picks`` as the JSON items of ``picks`` and ``offer`` (without brackets), rendered
    from columns; None when this event's text cannot take the fast path."""
    snapshot = f"https://app.ticketmaster.com/maps/geometry/3/event/{e.ids[M]}/image?section="
    if not fastjson.plain(snapshot) or not fastjson.plain_map(e.seat_map):
        return None
    if not len(live):
        return b"", b""
    text = _map_text(e.seat_map)
    geo = text.geo
    k, r, bad = live.section, live.row, live.malformed
    primary = live.primary.astype(np.int64)
    oid = tm_offer_codes(e, live.slot).tolist()
    at_row = geo.row_at(k, r)
    at_seats = geo.seats_at(r, live.seat0, live.qty)
    seat_ids, seats = text.seat_ids[at_seats].tolist(), text.seats[at_seats].tolist()
    money = [*fastjson.money(live.price), *fastjson.money(live.total)]
    offer = _OFFER_INLINE
    if np.count_nonzero(bad):
        for i in np.flatnonzero(bad == _EMPTY_SEATS).tolist():
            seat_ids[i], seats[i] = b"", b"[]"
        if (bad == _MISSING_PRICE).any():
            money = [fastjson.nullify(fastjson.column(_FACE, money), bad == _MISSING_PRICE,
                                    b'"faceValue":null,"totalPrice":null')]
            offer = _OFFER_FIELD
    facility = np.array([FEES[(M, "resale")][1], FEES[(M, "primary")][1]])[primary]
    picks = fastjson.rows(
        f'{{"id":"%s:%s%s%s{fastjson.literal(snapshot)}%s","offers":["%s"],"seats":%s}}',
        [oid, text.sec_row[at_row].tolist(), seat_ids, text.middle[at_row * 2 + primary].tolist(),
         text.name[k].tolist(), oid, seats])
    offers = fastjson.rows(offer, [
        oid, text.offer[k * 2 + primary].tolist(), *money,
        *fastjson.money(live.total - live.price - facility), _FACILITY[primary].tolist()])
    return picks, offers
