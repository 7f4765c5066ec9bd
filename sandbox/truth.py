"""Ground truth: every live listing of an event with its fair value and how each
marketplace shows it, the event's ids everywhere, and its fair get-in price."""

from __future__ import annotations

from typing import Any

from sandbox.common import iso_z
from sandbox.eventbrite.objects import ticket_classes
from sandbox.market import BIT, RESALE_MARKETS, ListingModel
from sandbox.seatgeek.objects import sg_listings
from sandbox.stubhub.objects import sh_listings
from sandbox.ticketmaster.objects import offers_obj, tm_picks
from sandbox.world import (
    World,
    WorldEvent,
    eb_venue_id,
    sg_venue_id,
    sh_venue_id,
    tm_venue_id,
)


def event_summary(e: WorldEvent) -> dict[str, Any]:
    return {"world_event_id": e.world_id, "name": e.name, "category": e.category,
            "starts_at": iso_z(e.start), "status": e.status, "venue": e.venue.name,
            "venue_city": e.venue.city, "performers": list(e.performers), "ids": dict(e.ids),
            "venue_key": e.venue.key, "venue_ids": venue_ids(e),
            "identity_cases": list(e.cases), "previous_starts_at":
            iso_z(e.previous_start) if e.previous_start is not None else None,
            "popularity": round(e.popularity, 4)}


def venue_ids(e: WorldEvent) -> dict[str, str]:
    """The event's venue under each marketplace's venue ids (venue identity's truth)."""
    ids = {"ticketmaster": tm_venue_id(e.venue), "seatgeek": str(sg_venue_id(e.venue)),
           "stubhub": str(sh_venue_id(e.venue)), "eventbrite": eb_venue_id(e.venue)}
    return {m: ids[m] for m in e.ids}


def _shown(e: WorldEvent, m: str, live) -> list[dict[str, Any]]:
    """How marketplace ``m`` shows each live listing (ids, section and row as displayed)."""
    if m == "ticketmaster":
        picks, _offers = tm_picks(e, live)
        shown = [{"listing_id": p["id"], "section": p["section"], "row": p["row"]}
                 for p in picks]
    elif m == "seatgeek":
        shown = [{"listing_id": str(x["id"]), "section": x["section"], "row": x["row"]}
                 for x in sg_listings(e, live)]
    else:
        shown = [{"listing_id": str(x["listingId"]), "section": x["sectionName"],
                  "seller_section": x["sellerSectionName"], "row": x["row"]}
                 for x in sh_listings(e, live)]
    for i, item in enumerate(shown):
        item.update(quantity=int(live.qty[i]), all_in_cents=int(live.total[i]),
                    price_cents=int(live.price[i]), fees_cents=int(live.fees[i]))
        bad = live.malformed_reason(i)
        if bad:
            item["malformed"] = bad
    return shown


def event_truth(world: World, model: ListingModel, e: WorldEvent, t: int) -> dict[str, Any]:
    listings: dict[int, dict[str, Any]] = {}
    for m in RESALE_MARKETS:
        if m not in e.ids:
            continue
        live = model.live(e, m, t)
        shown = _shown(e, m, live)
        for i in range(len(live)):
            slot = int(live.slot[i])
            item = listings.get(slot)
            if item is None:
                sec = e.seat_map.sections[int(live.section[i])]
                r = int(live.row[i])
                q, s0 = int(live.qty[i]), int(live.seat0[i])
                item = listings[slot] = {
                    "slot": slot, "kind": "primary" if live.primary[i] else "resale",
                    "section": sec.name, "zone": sec.tier,
                    "row": sec.rows[r] if r >= 0 else None,
                    "seats": [str(s) for s in range(s0, s0 + q)] if r >= 0 else [],
                    "quantity": q, "fair_cents": int(live.fair[i]),
                    "listed_at": iso_z(int(live.created[i])), "marketplaces": {}}
            item["marketplaces"][m] = shown[i]
    tiers: list[dict[str, Any]] = []
    if "eventbrite" in e.ids and e.status != "cancelled":
        for tc in ticket_classes(world, e, t):
            paid = tc["cost"] is not None
            tier = {"marketplace": "eventbrite", "listing_id": tc["id"], "name": tc["name"],
                    "on_sale_status": tc["on_sale_status"], "hidden": tc["hidden"],
                    "free": tc["free"], "donation": tc["donation"],
                    "quantity": tc["quantity_total"] - tc["quantity_sold"],
                    "price_cents": tc["cost"]["value"] if paid else None,
                    "fees_cents": tc["fee"]["value"] if paid else None}
            tier["all_in_cents"] = (tier["price_cents"] + tier["fees_cents"]) if paid else None
            tiers.append(tier)
            sellable = (paid and not tc["hidden"] and tc["on_sale_status"] == "AVAILABLE"
                        and tier["quantity"] > 0)
            if sellable:
                listings[-1 - len(tiers)] = {
                    "slot": None, "kind": "primary", "section": tc["name"], "zone": tc["name"],
                    "row": None, "seats": [], "quantity": tier["quantity"],
                    "fair_cents": tier["all_in_cents"], "listed_at": tc["sales_start"],
                    "marketplaces": {"eventbrite": {
                        "listing_id": tc["id"], "section": tc["name"], "row": None,
                        "quantity": tier["quantity"], "all_in_cents": tier["all_in_cents"],
                        "price_cents": tier["price_cents"], "fees_cents": tier["fees_cents"]}}}
    if "ticketmaster" in e.ids:
        tiers.extend(_ticketmaster_tiers(e))
    items = sorted(listings.values(), key=lambda d: (d["slot"] is None, d["slot"] or 0,
                                                     d["section"]))
    fair = [d["fair_cents"] for d in items]
    markets = [*BIT, "eventbrite"]
    counts = {m: sum(1 for d in items if m in d["marketplaces"]) for m in markets}
    return {**event_summary(e), "clock": iso_z(t), "fair_get_in_cents": min(fair) if fair
            else None, "listing_counts": counts, "listings": items, "primary_tiers": tiers}


def _ticketmaster_tiers(e: WorldEvent) -> list[dict[str, Any]]:
    """Ticketmaster's Commerce offers as tiers (price-zone face values, not seat listings)."""
    out = []
    for offer in offers_obj(e)["offers"]:
        for price in offer["attributes"]["prices"]:
            value = round(float(price["value"]) * 100)
            total = round(float(price["total"]) * 100)
            out.append({"marketplace": "ticketmaster", "listing_id":
                        f"{offer['id']}:{price['priceZone']}", "name":
                        offer["attributes"]["name"], "price_zone": price["priceZone"],
                        "price_cents": value, "fees_cents": total - value,
                        "all_in_cents": total})
    return out

