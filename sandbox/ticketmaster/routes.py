"""Ticketmaster's URLs and error bodies: auth is ``?apikey=``; errors are Apigee ``fault``
bodies (401, 429) and Discovery ``errors[]`` bodies (400 bad parameter, 404 unknown id,
deep paging past 1,000 results). ``_links`` hrefs are relative to the marketplace base URL,
as on the real service.
"""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np
import orjson

from sandbox.common import BadParameter, Request, Response, filter_events, json_response
from sandbox.ticketmaster.fastjson import tm_picks_json
from sandbox.ticketmaster.objects import M, event_obj, offers_obj, tm_picks
from sandbox.world import WorldEvent


def credential(query: dict[str, str], headers: dict[str, str]) -> str | None:
    return query.get("apikey")


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


def _not_found(what: str) -> Response:
    return _error(404, "DIS1004", f"Resource not found with provided criteria (locale=en-us, "
                                  f"id={what})")


def _bad_parameter(err: BadParameter) -> Response:
    return _error(400, "DIS1015", f"Query param with name {err.name} has an invalid value.")


def handle(req: Request) -> Response:
    p = req.parts
    try:
        if p[:2] == ["discovery", "v2"] and len(p) == 3 and p[2] == "events.json":
            return _events(req)
        if p[:3] == ["discovery", "v2", "events"] and len(p) == 4 and p[3].endswith(".json"):
            e = req.world.event_for(M, p[3].removesuffix(".json"))
            return json_response(event_obj(req, e)) if e else _not_found(p[3][:-5])
        if p[:3] == ["commerce", "v2", "events"] and len(p) == 5 and p[4] == "offers.json":
            e = req.world.event_for(M, p[3])
            return json_response(offers_obj(e)) if e else _not_found(p[3])
        if p[:3] == ["top-picks", "v1", "events"] and len(p) == 4:
            e = req.world.event_for(M, p[3].removesuffix(".json"))
            return _top_picks(req, e) if e else _not_found(p[3])
    except BadParameter as err:
        return _bad_parameter(err)
    return _error(404, "DIS1001", "Resource not found")


def _events(req: Request) -> Response:
    q = req.query
    size = req.int_arg("size", 20, 1, 200)
    page = req.int_arg("page", 0, 0, 10_000)
    if page * size >= 1000:
        return _error(400, "DIS1035", "API Limits Exceeded: Max paging depth exceeded. "
                                      "(page * size) must be less than 1,000")
    events = filter_events(req.world.events_on(M), keyword=q.get("keyword"),
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


def _top_picks(req: Request, e: WorldEvent) -> Response:
    size = req.int_arg("size", 20, 1, 200)
    page = req.int_arg("page", 0, 0, 1_000_000)
    quantity = req.int_arg("quantity", 0, 0, 50)
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
