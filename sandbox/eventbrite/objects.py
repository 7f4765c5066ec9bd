"""Eventbrite's JSON objects built from the world: organizations (one per club venue),
events, venues and ticket classes (money in minor units).

Ticket classes are the primary tiers of club and comedy shows; ``ticket_classes`` is also
what the truth reports.
"""

from __future__ import annotations

from datetime import datetime

from sandbox.common import iso_z, money_str
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


def organizer_venues(world: World) -> list[Venue]:
    """The venues whose events Eventbrite sells (each is one organization)."""
    keys = {e.venue.key for e in world.events_on(M)}
    return sorted((v for v in world.venues.values() if v.key in keys), key=lambda v: v.number)


def organization_obj(v: Venue) -> dict:
    return {"_type": "organization", "name": f"{v.name} Presents", "vertical": "default",
            "parent_id": None, "locale": "en_US", "image_id": None, "id": eb_org_id(v)}


def status_of(e: WorldEvent, t: int) -> str:
    if e.status == "cancelled":
        return "canceled"
    if t >= e.start + 3 * 3600:
        return "completed"
    return "started" if t >= e.start else "live"


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
