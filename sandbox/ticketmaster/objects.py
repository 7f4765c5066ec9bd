"""Ticketmaster's JSON objects built from the world: Discovery events (with venues and
attractions), Commerce offers per price zone, and Top Picks with their embedded offers.

``tm_picks`` is the readable definition of the picks format (the truth reads it, and
``sandbox.ticketmaster.fastjson`` must render exactly its bytes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sandbox.common import dollars, iso_z, money_str
from sandbox.hashing import key
from sandbox.market import FEES, MALFORMED_KINDS, Live, tm_offer_ids
from sandbox.world import WorldEvent, b62, slug, tm_attraction_id, tm_venue_id

if TYPE_CHECKING:
    from sandbox.common import Request

M = "ticketmaster"
_SEGMENTS = {"Sports": "KZFzniwnSyZfZ7v7nE", "Music": "KZFzniwnSyZfZ7v7nJ",
             "Arts & Theatre": "KZFzniwnSyZfZ7v7na"}
_STATUS = {"onsale": "onsale", "soldout": "offsale", "postponed": "postponed",
           "cancelled": "cancelled"}


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


def _venue(e: WorldEvent) -> dict:
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
    obj["_embedded"] = {"venues": [_venue(e)], "attractions": attractions}
    return obj


def _zones(e: WorldEvent) -> list[tuple[str, str, int]]:
    """Price zones (id, name, face cents) from the seat map's tiers, priciest first."""
    tiers: dict[str, float] = {}
    for s in e.seat_map.sections:
        tiers[s.tier] = max(tiers.get(s.tier, 0.0), s.value)
    ranked = sorted(tiers.items(), key=lambda kv: -kv[1])
    return [(str(i + 1), name, int(round(e.base_cents * value * 0.85 / 50.0) * 50))
            for i, (name, value) in enumerate(ranked)]


def offers_obj(e: WorldEvent) -> dict:
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


def _pick_listing_id(offer_id: str, section: str, row: str, seats: list[str]) -> str:
    """The listing id rule the spiders apply: offer id + section + row + seats."""
    return f"{offer_id}:{section}:{row}:{','.join(seats)}"


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
            "id": _pick_listing_id(oid, sec.name, row, seats), "type": "seats",
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
