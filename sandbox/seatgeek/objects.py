"""SeatGeek's JSON objects built from the world: Platform v2 events (with their listing
stats), venues, performers and taxonomies, and our seat-level listings.

``sg_listings`` is the readable definition of the listing format (see the package
docstring of ``sandbox``; the truth reads it, and ``sandbox.seatgeek.fastjson`` must render
exactly its bytes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sandbox.common import iso_naive, section_texts, splits
from sandbox.market import DELIVERIES, MALFORMED_KINDS, Live, listing_id
from sandbox.world import WorldEvent, sg_performer_id, sg_venue_id, slug, title_on

if TYPE_CHECKING:
    from sandbox.common import Request

M = "seatgeek"
_TYPES = {"basketball": "nba", "soccer": "mls", "concert": "concert", "club": "concert",
          "theatre": "theater", "comedy": "comedy"}
_TAXONOMIES = {
    "nba": [(None, 1_000_000, "sports"), (1_000_000, 1_030_000, "basketball"),
            (1_030_000, 1_030_100, "nba")],
    "mls": [(None, 1_000_000, "sports"), (1_000_000, 1_040_000, "soccer"),
            (1_040_000, 1_040_100, "mls")],
    "concert": [(None, 2_000_000, "concert")],
    "theater": [(None, 3_000_000, "theater"), (3_000_000, 3_010_000, "broadway_tickets_national")],
    "comedy": [(None, 3_000_000, "theater"), (3_000_000, 3_020_000, "comedy")],
}


def matches_taxonomy(e: WorldEvent, name: str) -> bool:
    """Whether ``?taxonomies.name=`` / ``?type=`` ``name`` selects event ``e``."""
    kind = _TYPES[e.category]
    return name in {t[2] for t in _TAXONOMIES[kind]} or name == kind


def _taxonomies(e: WorldEvent) -> list[dict]:
    return [{"parent_id": a, "id": b, "name": c} for a, b, c in _TAXONOMIES[_TYPES[e.category]]]


#: how SeatGeek names some venues (venue identity must see through it)
SG_VENUE_NAMES = {"moda": "Moda Center at the Rose Quarter",
                  "schnitzer": "Arlene Schnitzer Concert Hall (The Schnitz)"}


def venue_obj(e_or_venue) -> dict:
    v = getattr(e_or_venue, "venue", e_or_venue)
    return {"city": v.city, "num_upcoming_events": 12, "name": SG_VENUE_NAMES.get(v.key, v.name),
            "extended_address": f"{v.city}, {v.state} {v.postal_code}",
            "url": f"https://seatgeek.com/venues/{slug(v.name)}/tickets", "country": "US",
            "display_location": f"{v.city}, {v.state}", "links": [], "slug": slug(v.name),
            "state": v.state, "name_v2": v.name, "postal_code": v.postal_code,
            "location": {"lat": v.lat, "lon": v.lon}, "address": v.address,
            "timezone": v.timezone, "score": round(0.5 + v.number / 40, 6),
            "has_upcoming_events": True, "id": sg_venue_id(v), "capacity": v.capacity}


def performer_obj(e: WorldEvent, name: str, primary: bool) -> dict:
    pid = sg_performer_id(name)
    return {"image": f"https://seatgeek.com/images/performers-landscape/{slug(name)}/huge.jpg",
            "primary": primary, "colors": None,
            "images": {"huge": f"https://seatgeek.com/images/performers-landscape/"
                               f"{slug(name)}/huge.jpg"},
            "has_upcoming_events": True, "id": pid,
            "genres": [{"id": 400 + len(e.genre), "slug": slug(e.genre), "name": e.genre,
                        "primary": True}],
            "stats": {"event_count": 8},
            "image_license": "https://creativecommons.org/licenses/by-nd/2.0/",
            "score": round(0.3 + 0.6 * e.popularity, 6), "taxonomies": _taxonomies(e),
            "type": {"basketball": "nba", "soccer": "mls"}.get(e.category, "band"),
            "num_upcoming_events": 8, "short_name": name.split()[-1] if primary else name,
            "home_venue_id": sg_venue_id(e.venue) if e.category == "basketball" and primary
            else None, "slug": slug(name), "divisions": None, "name": name,
            "url": f"https://seatgeek.com/{slug(name)}-tickets",
            "image_attribution": f"https://www.flickr.com/photos/{slug(name)}"}


def _stats(req: Request, e: WorldEvent) -> dict:
    s = req.model.stats(e.index, M, req.t)
    if not s["count"]:
        none = None
        return {"listing_count": 0, "average_price": none, "lowest_price_good_deals": none,
                "lowest_price": none, "highest_price": none, "median_price": none,
                "lowest_sg_base_price": none, "lowest_sg_base_price_good_deals": none,
                "visible_listing_count": 0}
    return {"listing_count": s["count"], "average_price": round(s["average"] / 100),
            "lowest_price_good_deals": round(s["lowest_good_deal"] / 100),
            "lowest_price": round(s["lowest"] / 100), "highest_price": round(s["highest"] / 100),
            "median_price": round(s["median"] / 100),
            "lowest_sg_base_price": round(s["lowest_base"] / 100),
            "lowest_sg_base_price_good_deals": round(s["lowest_base"] / 100),
            "visible_listing_count": s["count"]}


def event_obj(req: Request, e: WorldEvent) -> dict:
    eid = int(e.ids[M])
    local = e.start_local.replace(tzinfo=None).isoformat(timespec="seconds")
    title = title_on(e, M)
    tbd = "seatgeek:tba" in e.quirks  # the date is known, the time to be announced
    if tbd:  # SeatGeek's placeholder time for a TBA start
        local = f"{e.start_local:%Y-%m-%d}T03:30:00"
    # a feed that gives local time as UTC (the identity hard case "local time as UTC")
    utc = local if "seatgeek:local-as-utc" in e.quirks else iso_naive(e.start)
    return {
        "links": [], "id": eid, "stats": _stats(req, e), "title": title,
        "announce_date": iso_naive(req.world.start - 45 * 86_400),
        "score": round(0.3 + 0.65 * e.popularity, 6), "date_tbd": False,
        "type": _TYPES[e.category], "datetime_local": local,
        "visible_until_utc": iso_naive(e.start + 4 * 3600), "time_tbd": tbd,
        "taxonomies": _taxonomies(e),
        "performers": [performer_obj(e, p, i == 0) for i, p in enumerate(e.performers)],
        "url": f"https://seatgeek.com/{slug(title)}-tickets/{slug(e.venue.city)}-"
               f"{slug(e.venue.name)}-{e.start_local:%Y-%m-%d}/{_TYPES[e.category]}/{eid}",
        "created_at": iso_naive(req.world.start - 45 * 86_400),
        "venue": venue_obj(e), "short_title": title.replace("Portland Trail Blazers", "Blazers"),
        "datetime_utc": utc, "datetime_tbd": False,
        "status": {"cancelled": "cancelled", "postponed": "postponed"}.get(e.status, "normal"),
    }


def _iso_utc(epochs: np.ndarray) -> list[str]:
    """Epoch seconds -> "YYYY-MM-DDTHH:MM:SSZ" strings, vectorised."""
    text = np.datetime_as_string(epochs.astype("datetime64[s]"), unit="s")
    return [x + "Z" for x in text.tolist()]


def sg_listings(e: WorldEvent, live: Live) -> list[dict]:
    """The page's listings in our SeatGeek seat-level format (see the package docstring)."""
    secs = e.seat_map.sections
    texts = section_texts(e.seat_map)
    eid = int(e.ids[M])
    base_id = listing_id(M, e, 0)
    url = f"https://seatgeek.com/e/{slug(e.name)}/{eid}?listing="
    base = np.round(live.price / 100.0, 2).tolist()
    fees = np.round(live.fees / 100.0, 2).tolist()
    total = np.round(live.total / 100.0, 2).tolist()
    created = _iso_utc(live.created)
    out = []
    for i, (k, r, q, s0, split, deliv, slot, spell, bad, primary) in enumerate(zip(
            live.section.tolist(), live.row.tolist(), live.qty.tolist(), live.seat0.tolist(),
            live.split.tolist(), live.delivery.tolist(), live.slot.tolist(),
            live.spelling.tolist(), live.malformed.tolist(), live.primary.tolist(),
            strict=True)):
        sec = secs[k]
        lid = base_id + slot
        reason = MALFORMED_KINDS[M][bad - 1] if bad else None
        out.append({
            "id": lid, "event_id": eid, "section": texts[k][spell],
            "row": None if r < 0 else (f"Row {sec.rows[r]}" if spell % 2 == 0 else sec.rows[r]),
            "seat_numbers": [] if r < 0 else [str(x) for x in range(s0, s0 + q)],
            "quantity": -q if reason == "negative_quantity" else q,
            "splits": splits(q, split),
            "price": None if reason == "missing_price" else {
                "base": base[i], "fees": fees[i], "all_in": total[i], "currency": "USD"},
            "delivery_method": DELIVERIES[deliv], "zone": sec.tier,
            "market": "primary" if primary else "resale",
            "created_at": "2026-13-45T99:99:99Z" if reason == "bad_date" else created[i],
            "url": f"{url}{lid}",
        })
    return out
