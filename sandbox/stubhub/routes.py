"""StubHub's developer API URLs and error bodies (catalog search, catalog event, inventory
search, venue configuration): auth is ``Authorization: Bearer TOKEN``; errors are the API
gateway's ``fault`` (401, 429) and StubHub's ``errors`` bodies."""

from __future__ import annotations

import orjson

from sandbox.common import (
    BadParameter,
    Request,
    Response,
    bearer,
    filter_events,
    json_response,
)
from sandbox.stubhub.fastjson import sh_listings_json
from sandbox.stubhub.objects import (
    M,
    catalog_event,
    inventory_stats,
    sh_listings,
    venue_configuration,
)
from sandbox.world import sh_venue_id


def credential(query: dict[str, str], headers: dict[str, str]) -> str | None:
    return bearer(headers)


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


def _not_found(what: str = "event") -> Response:
    return _error(404, f"{what}.notFound", f"The {what} was not found", f"{what}Id")


def handle(req: Request) -> Response:
    p = [s for s in req.parts if s]
    try:
        if p == ["search", "catalog", "events", "v3"]:
            return _search(req)
        if p[:3] == ["catalog", "events", "v3"] and len(p) == 4:
            e = req.world.event_for(M, p[3])
            return json_response(catalog_event(req, e)) if e else _not_found()
        if p == ["search", "inventory", "v2"]:
            return _inventory(req)
        if (len(p) == 6 and p[:3] == ["catalog", "venues", "v3"]
                and p[4] == "venueConfigurations"):
            return _venue_config(req, p[3], p[5])
    except BadParameter as err:
        return _error(400, f"{err.name}.invalid", f"Invalid value for {err.name}", err.name)
    return _error(404, "resource.notFound", "The resource was not found")


def _search(req: Request) -> Response:
    q = req.query
    events = filter_events(req.world.events_on(M), keyword=q.get("q"), city=q.get("city"),
                           classification=None, gte=None, lte=None)
    if q.get("sort", "").startswith("eventDateLocal desc"):
        events.reverse()
    start = req.int_arg("start", 0, 0, 10_000_000)
    rows = req.int_arg("rows", 10, 0, 500)
    return json_response({"numFound": len(events),
                          "events": [catalog_event(req, e) for e in events[start:start + rows]]})


def _inventory(req: Request) -> Response:
    raw = req.query.get("eventId")
    if not raw:
        raise BadParameter("eventId")
    e = req.world.event_for(M, raw)
    if e is None:
        return _not_found()
    start = req.int_arg("start", 0, 0, 10_000_000)
    rows = req.int_arg("rows", 20, 0, 500)
    page, n_live = req.model.page(e, M, req.t, start, start + rows)
    qty_all = req.model.quantities(e, M, req.t)
    head = orjson.dumps({"eventId": int(e.ids[M]), "totalListings": n_live,
                         "totalTickets": int(qty_all.sum()),
                         "minQuantity": int(qty_all.min()) if n_live else 0,
                         "maxQuantity": int(qty_all.max()) if n_live else 0})
    items = sh_listings_json(e, page)
    if items is None:  # text that needs escaping: the general path
        items = orjson.dumps(sh_listings(e, page))[1:-1]
    wanted = {f: req.query.get(f) == "true" for f in ("sectionStats", "zoneStats",
                                                     "pricingSummary")}
    live = req.model.live(e, M, req.t) if any(wanted.values()) else page
    body = inventory_stats(e, live, sections=wanted["sectionStats"],
                           zones=wanted["zoneStats"], pricing=wanted["pricingSummary"])
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
                return json_response(venue_configuration(v, smap))
        return _not_found("venueConfiguration")
    return _not_found("venue")
