"""SeatGeek's URLs and error bodies: auth is ``?client_id=``; errors are SeatGeek's
``{"errors", "message", "status", "meta"}`` bodies (403 for a missing or bad client id)."""

from __future__ import annotations

import orjson

from sandbox.common import BadParameter, Request, Response, filter_events, json_response
from sandbox.hashing import unit
from sandbox.seatgeek.fastjson import sg_listings_json
from sandbox.seatgeek.objects import (
    M,
    event_obj,
    matches_taxonomy,
    performer_obj,
    sg_listings,
    venue_obj,
)
from sandbox.world import WorldEvent, sg_performer_id, sg_venue_id


def credential(query: dict[str, str], headers: dict[str, str]) -> str | None:
    return query.get("client_id")


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


def _not_found(what: str) -> Response:
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
                return json_response(event_obj(req, e)) if e else _not_found("Event")
            if res == "events" and len(rest) == 2 and rest[1] == "listings":
                e = req.world.event_for(M, rest[0])
                return _listings(req, e) if e else _not_found("Event")
            if res == "venues":
                return _venues(req, rest)
            if res == "performers":
                return _performers(req, rest)
    except BadParameter as err:
        return _error(400, 40001, f"Invalid value for parameter {err.name!r}")
    return _not_found("Resource")


def _meta(req: Request, total: int, page: int, per_page: int) -> dict:
    took = round(0.002 + 0.02 * unit(req.world.seed, req.raw_query, req.t), 4)
    return {"total": total, "page": page, "per_page": per_page, "took": took,
            "geolocation": None}


def _events(req: Request) -> Response:
    q = req.query
    per_page = req.int_arg("per_page", 10, 1, 5000)
    page = req.int_arg("page", 1, 1, 1_000_000)
    events = filter_events(req.world.events_on(M), keyword=q.get("q"),
                           city=q.get("venue.city"), classification=None,
                           gte=q.get("datetime_utc.gte"), lte=q.get("datetime_utc.lte"))
    tax = q.get("taxonomies.name") or q.get("type")
    if tax:
        events = [e for e in events if matches_taxonomy(e, tax)]
    chunk = events[(page - 1) * per_page : page * per_page]
    return json_response({"events": [event_obj(req, e) for e in chunk],
                          "meta": _meta(req, len(events), page, per_page)})


def _listings(req: Request, e: WorldEvent) -> Response:
    per_page = req.int_arg("per_page", 100, 1, 500)
    page = req.int_arg("page", 1, 1, 10_000_000)
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
        return _not_found("Venue")
    city = req.query.get("city")
    if city:
        venues = [v for v in venues if v.city.lower() == city.lower()]
    per_page = req.int_arg("per_page", 10, 1, 5000)
    page = req.int_arg("page", 1, 1, 1_000_000)
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
        return json_response(found) if found else _not_found("Performer")
    items = sorted(seen.values(), key=lambda p: p["name"])
    q = req.query.get("q")
    if q:
        items = [p for p in items if q.lower() in p["name"].lower()]
    per_page = req.int_arg("per_page", 10, 1, 5000)
    page = req.int_arg("page", 1, 1, 1_000_000)
    chunk = items[(page - 1) * per_page : page * per_page]
    return json_response({"performers": chunk, "meta": _meta(req, len(items), page, per_page)})
