"""SeatGeek under ``/seatgeek``: Platform v2 events, venues, performers, and our seat-level
``/2/events/{id}/listings`` (SeatGeek publishes no public listing format; see the package
docstring). Auth is ``?client_id=``; errors are SeatGeek's ``{"errors", "message", "status",
"meta"}`` bodies.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import orjson

from sandbox import fastjson
from sandbox.common import (
    BadParameter,
    Request,
    Response,
    iso_naive,
    json_response,
)
from sandbox.fastjson import seat_run
from sandbox.hashing import unit
from sandbox.market import DELIVERIES, MALFORMED_KINDS, Live, listing_id
from sandbox.venues import SeatMap, Section
from sandbox.wire_ticketmaster import filter_events
from sandbox.world import WorldEvent, sg_performer_id, sg_venue_id, slug

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


def _error(status: int, code: int, message: str) -> Response:
    return json_response({"errors": [{"code": code, "message": message}], "message": message,
                          "status": status, "meta": {"status": status}}, status)


def unauthorized(missing: bool) -> Response:
    if missing:
        return _error(403, 40307, 'Client is required - visit "https://seatgeek.com/account/'
                                  'develop"')
    return _error(403, 40301, "Invalid client_id - visit \"https://seatgeek.com/account/"
                              "develop\"")


def rate_limited() -> Response:
    return _error(429, 42901, "Rate limit exceeded - slow down and retry after the "
                              "Retry-After header")


def not_found(what: str) -> Response:
    return _error(404, 40401, f"{what} not found")


def handle(req: Request) -> Response:
    p = req.parts
    try:
        if len(p) >= 2 and p[0] == "2":
            res, rest = p[1], p[2:]
            if res == "events" and not rest:
                return _events(req)
            if res == "events" and len(rest) == 1:
                e = req.world.event_for(M, rest[0])
                return json_response(event_obj(req, e)) if e else not_found("Event")
            if res == "events" and len(rest) == 2 and rest[1] == "listings":
                e = req.world.event_for(M, rest[0])
                return _listings(req, e) if e else not_found("Event")
            if res == "venues":
                return _venues(req, rest)
            if res == "performers":
                return _performers(req, rest)
    except BadParameter as err:
        return _error(400, 40001, f"Invalid value for parameter {err.name!r}")
    return not_found("Resource")


def _int(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    try:
        return req.int_arg(name, default, lo, hi)
    except ValueError:
        raise BadParameter(name) from None


def _meta(req: Request, total: int, page: int, per_page: int) -> dict:
    took = round(0.002 + 0.02 * unit(req.world.seed, req.raw_query, req.t), 4)
    return {"total": total, "page": page, "per_page": per_page, "took": took,
            "geolocation": None}


def _events(req: Request) -> Response:
    q = req.query
    per_page = _int(req, "per_page", 10, 1, 5000)
    page = _int(req, "page", 1, 1, 1_000_000)
    events = filter_events(req, req.world.events_on(M), keyword=q.get("q"),
                           city=q.get("venue.city"), classification=None,
                           gte=q.get("datetime_utc.gte"), lte=q.get("datetime_utc.lte"))
    tax = q.get("taxonomies.name") or q.get("type")
    if tax:
        events = [e for e in events
                  if tax in {t[2] for t in _TAXONOMIES[_TYPES[e.category]]}
                  or tax == _TYPES[e.category]]
    chunk = events[(page - 1) * per_page : page * per_page]
    return json_response({"events": [event_obj(req, e) for e in chunk],
                          "meta": _meta(req, len(events), page, per_page)})


def _taxonomies(e: WorldEvent) -> list[dict]:
    return [{"parent_id": a, "id": b, "name": c} for a, b, c in _TAXONOMIES[_TYPES[e.category]]]


def venue_obj(e_or_venue) -> dict:
    v = getattr(e_or_venue, "venue", e_or_venue)
    return {"city": v.city, "num_upcoming_events": 12, "name": v.name,
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


def stats_obj(req: Request, e: WorldEvent) -> dict:
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
    title = e.name
    return {
        "links": [], "id": eid, "stats": stats_obj(req, e), "title": title,
        "announce_date": iso_naive(req.world.start - 45 * 86_400),
        "score": round(0.3 + 0.65 * e.popularity, 6), "date_tbd": False,
        "type": _TYPES[e.category], "datetime_local": local,
        "visible_until_utc": iso_naive(e.start + 4 * 3600), "time_tbd": False,
        "taxonomies": _taxonomies(e),
        "performers": [performer_obj(e, p, i == 0) for i, p in enumerate(e.performers)],
        "url": f"https://seatgeek.com/{slug(title)}-tickets/{slug(e.venue.city)}-"
               f"{slug(e.venue.name)}-{e.start_local:%Y-%m-%d}/{_TYPES[e.category]}/{eid}",
        "created_at": iso_naive(req.world.start - 45 * 86_400),
        "venue": venue_obj(e), "short_title": title.replace("Portland Trail Blazers", "Blazers"),
        "datetime_utc": iso_naive(e.start), "datetime_tbd": False,
        "status": {"cancelled": "cancelled", "postponed": "postponed"}.get(e.status, "normal"),
    }


def typed_section(sec: Section, variant: int) -> str:
    """How a seller typed the section: "Section 112", "LOWER 112", "112", "Sec 112"."""
    if sec.general_admission:
        return ("General Admission", "GA", sec.name.title(), "GA")[variant] \
            if sec.name == "GA" else (sec.name.title(), sec.name, sec.name.title(),
                                      f"{sec.name.title()} GA")[variant]
    if sec.name.isdigit():
        return (f"Section {sec.name}", f"{sec.tier_code} {sec.name}", sec.name,
                f"Sec {sec.name}")[variant]
    return (sec.name.title(), sec.name, f"Section {sec.name.title()}", sec.name.title())[variant]


_TEXTS: dict[int, tuple[tuple[str, ...], ...]] = {}


def section_texts(smap: SeatMap) -> tuple[tuple[str, ...], ...]:
    """Per section, the four ways sellers type it (cached per seat map)."""
    texts = _TEXTS.get(smap.config_id)
    if texts is None:
        texts = _TEXTS[smap.config_id] = tuple(
            tuple(typed_section(sec, v) for v in range(4)) for sec in smap.sections)
    return texts


def iso_utc(epochs: np.ndarray) -> list[str]:
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
    created = iso_utc(live.created)
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


@functools.lru_cache(maxsize=512)
def _splits(q: int, rule: int) -> tuple[int, ...]:
    if rule == 3 or q == 1:
        return (q,)
    if rule == 2:
        return tuple(range(2, q + 1, 2)) or (q,)
    options = range(1, q + 1)
    if rule == 1:
        return tuple(n for n in options if q - n != 1)
    return tuple(options)


def splits(q: int, rule: int) -> list[int]:
    """Allowed purchase sizes for a listing of ``q`` tickets under a split rule."""
    return list(_splits(q, rule))


def _listings(req: Request, e: WorldEvent) -> Response:
    per_page = _int(req, "per_page", 100, 1, 500)
    page = _int(req, "page", 1, 1, 10_000_000)
    start = (page - 1) * per_page
    live, total = req.model.page(e, M, req.t, start, start + per_page)
    meta = orjson.dumps({"total": total, "page": page, "per_page": per_page,
                         "took": _meta(req, 0, 0, 0)["took"]})
    items = sg_listings_json(e, live)
    if items is None:  # a seat map with text that needs escaping: the general path
        items = orjson.dumps(sg_listings(e, live))[1:-1]
    return Response(200, b'{"listings":[%s],"meta":%s}' % (items, meta))


def _venues(req: Request, rest: list[str]) -> Response:
    venues = sorted(req.world.venues.values(), key=lambda v: v.number)
    if rest:
        for v in venues:
            if str(sg_venue_id(v)) == rest[0]:
                return json_response(venue_obj(v))
        return not_found("Venue")
    city = req.query.get("city")
    if city:
        venues = [v for v in venues if v.city.lower() == city.lower()]
    per_page = _int(req, "per_page", 10, 1, 5000)
    page = _int(req, "page", 1, 1, 1_000_000)
    chunk = venues[(page - 1) * per_page : page * per_page]
    return json_response({"venues": [venue_obj(v) for v in chunk],
                          "meta": _meta(req, len(venues), page, per_page)})


def _performers(req: Request, rest: list[str]) -> Response:
    seen: dict[int, dict] = {}
    for e in req.world.events_on(M):
        for i, name in enumerate(e.performers):
            seen.setdefault(sg_performer_id(name), performer_obj(e, name, i == 0))
    if rest:
        found = seen.get(int(rest[0])) if rest[0].isdigit() else None
        return json_response(found) if found else not_found("Performer")
    items = sorted(seen.values(), key=lambda p: p["name"])
    q = req.query.get("q")
    if q:
        items = [p for p in items if q.lower() in p["name"].lower()]
    per_page = _int(req, "per_page", 10, 1, 5000)
    page = _int(req, "page", 1, 1, 1_000_000)
    chunk = items[(page - 1) * per_page : page * per_page]
    return json_response({"performers": chunk, "meta": _meta(req, len(items), page, per_page)})


# -- fast rendering (byte-identical to ``orjson.dumps(sg_listings(...))``) -----------------

_PRICE = '{"base":%d.%s,"fees":%d.%s,"all_in":%d.%s,"currency":"USD"}'
_BAD = {kind: i + 1 for i, kind in enumerate(MALFORMED_KINDS[M])}


@dataclasses.dataclass(frozen=True, slots=True)
class _MapText:
    """Per seat map: the listing fields that depend only on table lookups, pre-rendered
    as JSON text and merged where they sit next to each other in the record."""

    geo: fastjson.MapGeometry
    sec_row: np.ndarray  # [row_at * 4 + spelling] -> 'SECTION,"row":ROW'
    seats: np.ndarray  # [(run * 4 + split rule] -> 'SEATS,"quantity":Q,"splits":[..]'
    tail: np.ndarray  # [(section * 5 + delivery) * 2 + primary] -> 'DELIV,"zone":..,"market":..'


_MAP_TEXT: dict[int, _MapText] = {}


def _map_text(smap: SeatMap) -> _MapText:
    text = _MAP_TEXT.get(smap.config_id)
    if text is not None:
        return text
    geo = fastjson.MapGeometry(smap.sections)
    texts = section_texts(smap)

    def sec_row(k: int, row: str | None) -> list[str]:
        rows = ("null", "null") if row is None else (fastjson.jstr(f"Row {row}"),
                                                     fastjson.jstr(row))
        return [f'{fastjson.jstr(texts[k][v])},"row":{rows[v % 2]}' for v in range(4)]

    def seats(first: int, n: int) -> list[str]:
        run = "[]" if first == 0 else orjson.dumps(list(seat_run(first, n))).decode()
        return [f'{run},"quantity":{n},"splits":{orjson.dumps(_splits(n, rule)).decode()}'
                if n else "" for rule in range(4)]

    markets = ('"resale"', '"primary"')
    text = _MAP_TEXT[smap.config_id] = _MapText(
        geo, geo.row_table(smap.sections, sec_row, 4), geo.seat_table(seats, 4),
        fastjson.table([f'{fastjson.jstr(d)},"zone":{fastjson.jstr(sec.tier)},"market":{m}'
                      for sec in smap.sections for d in DELIVERIES for m in markets]))
    return text


def _template(e: WorldEvent) -> tuple[bytes, bytes] | None:
    return _event_template(int(e.ids[M]), e.name)


@functools.lru_cache(maxsize=4096)
def _event_template(eid: int, name: str) -> tuple[bytes, bytes] | None:
    """The per-listing format (price inline, and price as one field) or None if the event's
    URL would need escaping."""
    url = f"https://seatgeek.com/e/{slug(name)}/{eid}?listing="
    if not fastjson.plain(url):
        return None
    head = f'{{"id":%d,"event_id":{eid},"section":%s,"seat_numbers":%s,"price":'
    tail = f',"delivery_method":%s,"created_at":"%s%s","url":"{fastjson.literal(url)}%d"}}'
    return (head + _PRICE + tail).encode(), (head + "%s" + tail).encode()


def sg_listings_json(e: WorldEvent, live: Live) -> bytes | None:
    """``sg_listings`` as JSON array items (without the brackets), rendered from columns;
    None when this event's text cannot take the fast path."""
    template = _template(e)
    if template is None or not fastjson.plain_map(e.seat_map):
        return None
    if not len(live):
        return b""
    text = _map_text(e.seat_map)
    k, r, q, bad = live.section, live.row, live.qty, live.malformed
    geo = text.geo
    lid = (listing_id(M, e, 0) + live.slot).tolist()
    seats = text.seats[geo.seats_at(r, live.seat0, q) * 4 + live.split].tolist()
    day, clock = fastjson.iso_z_parts(live.created)
    money = [*fastjson.money(live.price), *fastjson.money(live.fees), *fastjson.money(live.total)]
    inline = True
    if np.count_nonzero(bad):
        for i in np.flatnonzero(bad == _BAD["bad_date"]).tolist():
            day[i], clock[i] = b"2026-13-45T", b"99:99:99Z"
        for i in np.flatnonzero(bad == _BAD["negative_quantity"]).tolist():
            n = int(q[i])
            seats[i] = seats[i].replace(b',"quantity":%d,' % n, b',"quantity":%d,' % -n, 1)
        if (bad == _BAD["missing_price"]).any():
            money = [fastjson.nullify(fastjson.column(_PRICE, money), bad == _BAD["missing_price"])]
            inline = False
    columns = [lid, text.sec_row[geo.row_at(k, r) * 4 + live.spelling].tolist(), seats,
               *money, text.tail[(k * 5 + live.delivery) * 2 + live.primary].tolist(),
               day, clock, lid]
    return fastjson.rows(template[0 if inline else 1], columns)
