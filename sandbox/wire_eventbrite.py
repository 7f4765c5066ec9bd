"""Eventbrite under ``/eventbrite``: v3 organizations, organization events (continuation
pagination), events (``expand=venue``), venues and ticket classes (money in minor units).

Auth is ``Authorization: Bearer TOKEN`` or ``?token=``. Ticket classes are the primary
tiers of club and comedy shows; ``ticket_classes`` below is also what the truth reports.
"""

from __future__ import annotations

import base64
import math
from datetime import datetime

from sandbox.common import (
    BadParameter,
    Request,
    Response,
    iso_z,
    json_response,
    money_str,
)
from sandbox.hashing import key, unit
from sandbox.market import FEES
from sandbox.venues import Venue
from sandbox.world import PACIFIC, World, WorldEvent, eb_org_id, eb_venue_id, slug

M = "eventbrite"
API = "https://www.eventbriteapi.com/v3"
#: (name, cost multiple, capacity share, hidden, free, donation)
_TIERS = (("General Admission", 1.0, 0.62, False, False, False),
          ("Early Bird", 0.8, 0.15, False, False, False),
          ("VIP", 2.4, 0.10, False, False, False),
          ("Industry Guest List", 0.0, 0.05, True, True, False),
          ("Support the Artist", 0.0, 0.0, False, False, True))


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


def not_found(_what: str = "") -> Response:
    return _error(404, "NOT_FOUND", "The path you requested does not exist.")


def handle(req: Request) -> Response:
    p = [s for s in req.parts if s]
    try:
        if p[:1] != ["v3"]:
            return not_found()
        p = p[1:]
        if p == ["users", "me", "organizations"]:
            return _organizations(req)
        if len(p) == 3 and p[0] == "organizations" and p[2] == "events":
            return _org_events(req, p[1])
        if len(p) == 2 and p[0] == "events":
            e = req.world.event_for(M, p[1])
            if not e:
                return not_found()
            obj = event_obj(req.world, e, req.t)
            if "venue" in req.query.get("expand", "").split(","):
                obj["venue"] = venue_obj(e.venue)
            return json_response(obj)
        if len(p) == 3 and p[0] == "events" and p[2] == "ticket_classes":
            e = req.world.event_for(M, p[1])
            return _ticket_classes(req, e) if e else not_found()
        if len(p) == 2 and p[0] == "venues":
            for v in req.world.venues.values():
                if eb_venue_id(v) == p[1]:
                    return json_response(venue_obj(v))
            return not_found()
    except BadParameter as err:
        return _error(400, "ARGUMENTS_ERROR",
                      f"There are errors with your arguments: {err.name} - INVALID")
    return not_found()


def _eb_venues(world: World) -> list[Venue]:
    keys = {e.venue.key for e in world.events_on(M)}
    return sorted((v for v in world.venues.values() if v.key in keys), key=lambda v: v.number)


def _organizations(req: Request) -> Response:
    orgs = [{"_type": "organization", "name": f"{v.name} Presents", "vertical": "default",
             "parent_id": None, "locale": "en_US", "image_id": None, "id": eb_org_id(v)}
            for v in _eb_venues(req.world)]
    return json_response({"pagination": {"object_count": len(orgs), "page_number": 1,
                                         "page_size": 50, "page_count": 1,
                                         "has_more_items": False, "continuation": None},
                          "organizations": orgs})


def status_of(e: WorldEvent, t: int) -> str:
    if e.status == "cancelled":
        return "canceled"
    if t >= e.start + 3 * 3600:
        return "completed"
    return "started" if t >= e.start else "live"


def _page(req: Request, items: list, default_size: int) -> tuple[list, dict]:
    try:
        size = req.int_arg("page_size", default_size, 1, 200)
    except ValueError:
        raise BadParameter("page_size") from None
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
    venues = [v for v in _eb_venues(req.world) if eb_org_id(v) == org_id]
    if not venues:
        return not_found()
    wanted = req.query.get("status", "all")
    events = [e for e in req.world.events_on(M) if e.venue.key == venues[0].key]
    if wanted not in ("all", ""):
        allowed = set(wanted.split(","))
        events = [e for e in events if status_of(e, req.t) in allowed]
    chunk, pagination = _page(req, events, 50)
    return json_response({"pagination": pagination,
                          "events": [event_obj(req.world, e, req.t) for e in chunk]})


def event_obj(world: World, e: WorldEvent, t: int) -> dict:
    eid = e.ids[M]
    local = e.start_local
    end = e.start + 3 * 3600
    made = iso_z(world.start - 40 * 86_400)
    logo = str(130_000_000 + key(e.uid, "logo") % 9_000_000)
    summary = f"{e.name} live at {e.venue.name}"
    return {
        "name": {"text": e.name, "html": e.name},
        "description": {"text": summary, "html": summary},
        "url": f"https://www.eventbrite.com/e/{slug(e.name)}-tickets-{eid}",
        "start": {"timezone": e.venue.timezone,
                  "local": local.replace(tzinfo=None).isoformat(timespec="seconds"),
                  "utc": iso_z(e.start)},
        "end": {"timezone": e.venue.timezone,
                "local": datetime.fromtimestamp(end, PACIFIC).replace(tzinfo=None)
                .isoformat(timespec="seconds"), "utc": iso_z(end)},
        "organization_id": eb_org_id(e.venue), "created": made, "changed": made,
        "published": made, "capacity": e.venue.capacity, "capacity_is_custom": False,
        "status": status_of(e, t), "currency": "USD", "listed": True, "shareable": True,
        "invite_only": False, "online_event": False, "show_remaining": False,
        "tx_time_limit": 480, "hide_start_date": False, "hide_end_date": False,
        "locale": "en_US", "is_locked": False, "privacy_setting": "unlocked",
        "is_series": False, "is_series_parent": False, "inventory_type": "limited",
        "is_reserved_seating": False, "show_pick_a_seat": False,
        "show_seatmap_thumbnail": False, "show_colors_in_seatmap_thumbnail": False,
        "source": "coyote", "is_free": False, "version": None, "summary": summary,
        "logo_id": logo, "organizer_id": str(33_556_000_000 + e.venue.number),
        "venue_id": eb_venue_id(e.venue), "category_id": "103" if e.category == "club"
        else "105", "subcategory_id": None, "format_id": "6", "id": eid,
        "resource_uri": f"{API}/events/{eid}/", "is_externally_ticketed": False,
        "logo": {"crop_mask": {"top_left": {"x": 0, "y": 0}, "width": 1080, "height": 540},
                 "original": {"url": f"https://img.evbuc.com/images/{logo}/original.jpg",
                              "width": 1080, "height": 720},
                 "id": logo, "url": f"https://img.evbuc.com/images/{logo}/h200.jpg",
                 "aspect_ratio": "2", "edge_color": "#492d2b", "edge_color_set": True},
    }


def venue_obj(v: Venue) -> dict:
    return {"address": {"address_1": v.address, "address_2": None, "city": v.city,
                        "region": v.state, "postal_code": v.postal_code, "country": "US",
                        "latitude": f"{v.lat}", "longitude": f"{v.lon}",
                        "localized_address_display": f"{v.address}, {v.city}, {v.state} "
                                                     f"{v.postal_code}",
                        "localized_area_display": f"{v.city}, {v.state}",
                        "localized_multi_line_address_display": [
                            v.address, f"{v.city}, {v.state} {v.postal_code}"]},
            "resource_uri": f"{API}/venues/{eb_venue_id(v)}/", "id": eb_venue_id(v),
            "age_restriction": "21+" if v.kind == "club" else None, "capacity": v.capacity,
            "name": v.name, "latitude": f"{v.lat}", "longitude": f"{v.lon}"}


def _money(cents: int | None) -> dict | None:
    if cents is None:
        return None
    return {"display": f"${cents / 100:,.2f}", "currency": "USD", "value": cents,
            "major_value": money_str(cents)}


def ticket_classes(world: World, e: WorldEvent, t: int) -> list[dict]:
    """The event's ticket classes at ``t`` (the wire objects; truth reads them too)."""
    rate, fixed = FEES[(M, "primary")]
    onsale = world.start - 30 * 86_400
    early_end = min(world.start + 14 * 86_400, e.start)
    out = []
    for k, (name, mult, share, hidden, free, donation) in enumerate(_TIERS):
        if donation and unit(e.uid, "donation") < 0.5:
            continue
        cid = str(300_000_000 + e.index * 100 + k)
        cost = None if donation else (0 if free else
                                      int(round(e.base_cents * mult * 0.9 / 100) * 100))
        capacity = max(int(e.venue.capacity * share), 20) if not donation else 0
        ends = early_end if name == "Early Bird" else e.start
        span = max(e.start - onsale, 1)
        frac = min(1.0, (0.25 + 0.9 * e.popularity) * (max(t - onsale, 0) / span) ** 0.7)
        sold = capacity if (e.status == "soldout" and not donation) else int(capacity * frac)
        if t >= ends:
            status = "UNAVAILABLE"
        elif capacity and sold >= capacity:
            status = "SOLD_OUT"
        else:
            status = "AVAILABLE"
        fee = None if cost is None else (0 if free else round(cost * rate) + fixed)
        paid = cost is not None and not free
        out.append({
            "actual_cost": None, "actual_fee": _money(fee) if paid else None,
            "cost": _money(cost) if paid else None, "fee": _money(fee) if paid else None,
            "tax": _money(0) if paid else None,
            "resource_uri": f"{API}/events/{e.ids[M]}/ticket_classes/{cid}/",
            "display_name": name, "name": name, "description": None, "sorting": k + 1,
            "donation": donation, "free": free, "minimum_quantity": 1,
            "maximum_quantity": 1 if free else 10,
            "maximum_quantity_per_order": 1 if free else 10, "on_sale_status": status,
            "has_pdf_ticket": True, "order_confirmation_message": None,
            "delivery_methods": ["electronic"], "category": "donation" if donation
            else "admission", "sales_channels": ["online", "atd"],
            "secondary_assignment_enabled": False, "event_id": e.ids[M], "image_id": None,
            "id": cid, "capacity": capacity, "quantity_total": capacity,
            "quantity_sold": sold, "sales_start": iso_z(onsale), "sales_end": iso_z(ends),
            "sales_end_relative": None, "hidden": hidden, "hidden_currently": hidden,
            "include_fee": False, "split_fee": False, "hide_description": True,
            "hide_sale_dates": False, "auto_hide": False, "payment_constraints": [],
        })
    return out


def _ticket_classes(req: Request, e: WorldEvent) -> Response:
    classes = ticket_classes(req.world, e, req.t) if e.status != "cancelled" else []
    chunk, pagination = _page(req, classes, 50)
    return json_response({"pagination": pagination, "ticket_classes": chunk})
