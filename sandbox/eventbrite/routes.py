"""Eventbrite's URLs and error bodies: auth is ``Authorization: Bearer TOKEN`` or
``?token=``; lists page with ``continuation`` tokens; errors are Eventbrite's
``{"status_code", "error_description", "error"}`` bodies."""

from __future__ import annotations

import base64
import math

from sandbox.common import BadParameter, Request, Response, bearer, json_response
from sandbox.eventbrite.objects import (
    M,
    event_obj,
    organization_obj,
    organizer_venues,
    status_of,
    ticket_classes,
    venue_obj,
)
from sandbox.world import WorldEvent, eb_org_id, eb_venue_id


def credential(query: dict[str, str], headers: dict[str, str]) -> str | None:
    given = bearer(headers)
    return query.get("token") if given is None else given


def _error(status: int, error: str, description: str) -> Response:
    return json_response({"status_code": status, "error_description": description,
                          "error": error}, status)


def unauthorized(missing: bool) -> Response:
    if missing:
        return _error(401, "NO_AUTH", "An OAuth token is required for all requests")
    return _error(401, "INVALID_AUTH", "The OAuth token you provided was invalid.")


def rate_limited() -> Response:
    return _error(429, "HIT_RATE_LIMIT", "Hourly rate limit has been reached for this token. "
                                         "Default rate limits are 2,000 calls per hour.")


def _not_found() -> Response:
    return _error(404, "NOT_FOUND", "The path you requested does not exist.")


def handle(req: Request) -> Response:
    p = [s for s in req.parts if s]
    try:
        if p[:1] != ["v3"]:
            return _not_found()
        p = p[1:]
        if p == ["users", "me", "organizations"]:
            return _organizations(req)
        if len(p) == 3 and p[0] == "organizations" and p[2] == "events":
            return _org_events(req, p[1])
        if len(p) == 2 and p[0] == "events":
            e = req.world.event_for(M, p[1])
            if not e:
                return _not_found()
            obj = event_obj(req.world, e, req.t)
            if "venue" in req.query.get("expand", "").split(","):
                obj["venue"] = venue_obj(e.venue)
            return json_response(obj)
        if len(p) == 3 and p[0] == "events" and p[2] == "ticket_classes":
            e = req.world.event_for(M, p[1])
            return _ticket_classes(req, e) if e else _not_found()
        if len(p) == 2 and p[0] == "venues":
            for v in req.world.venues.values():
                if eb_venue_id(v) == p[1]:
                    return json_response(venue_obj(v))
            return _not_found()
    except BadParameter as err:
        return _error(400, "ARGUMENTS_ERROR",
                      f"There are errors with your arguments: {err.name} - INVALID")
    return _not_found()


def _organizations(req: Request) -> Response:
    orgs = [organization_obj(v) for v in organizer_venues(req.world)]
    return json_response({"pagination": {"object_count": len(orgs), "page_number": 1,
                                         "page_size": 50, "page_count": 1,
                                         "has_more_items": False, "continuation": None},
                          "organizations": orgs})


def _page(req: Request, items: list, default_size: int) -> tuple[list, dict]:
    size = req.int_arg("page_size", default_size, 1, 200)
    token = req.query.get("continuation")
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode() + b"==").decode())
        except (ValueError, UnicodeDecodeError):
            raise BadParameter("continuation") from None
    chunk = items[start : start + size]
    more = start + size < len(items)
    nxt = base64.urlsafe_b64encode(str(start + size).encode()).decode().rstrip("=")
    return chunk, {"object_count": len(items), "page_number": start // size + 1,
                   "page_size": size, "page_count": max(1, math.ceil(len(items) / size)),
                   "has_more_items": more, "continuation": nxt if more else None}


def _org_events(req: Request, org_id: str) -> Response:
    venues = [v for v in organizer_venues(req.world) if eb_org_id(v) == org_id]
    if not venues:
        return _not_found()
    wanted = req.query.get("status", "all")
    events = [e for e in req.world.events_on(M) if e.venue.key == venues[0].key]
    if wanted not in ("all", ""):
        allowed = set(wanted.split(","))
        events = [e for e in events if status_of(e, req.t) in allowed]
    chunk, pagination = _page(req, events, 50)
    return json_response({"pagination": pagination,
                          "events": [event_obj(req.world, e, req.t) for e in chunk]})


def _ticket_classes(req: Request, e: WorldEvent) -> Response:
    classes = ticket_classes(req.world, e, req.t) if e.status != "cancelled" else []
    chunk, pagination = _page(req, classes, 50)
    return json_response({"pagination": pagination, "ticket_classes": chunk})
