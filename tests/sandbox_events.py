"""Every event the sandbox's four marketplaces list, read with the production parsers."""

from __future__ import annotations

import httpx

from crawler.parsers import parse
from storage.records import EventRecord


def sandbox_events(base: str) -> list[EventRecord]:
    """Every event the four marketplaces list, read with the pure parsers."""
    bearer = {"Authorization": "Bearer sandbox"}
    out: list[EventRecord] = []
    with httpx.Client(base_url=base, timeout=60) as c:
        page = 0
        while True:
            body = c.get("/ticketmaster/discovery/v2/events.json",
                         params={"apikey": "sandbox", "size": 200, "page": page}).content
            parsed = parse("ticketmaster", body)
            out += parsed.events
            page += 1
            if not parsed.page.has_more:
                break
        out += parse("seatgeek", c.get("/seatgeek/2/events", params={
            "client_id": "sandbox", "per_page": 500}).content).events
        start = 0
        while True:
            parsed = parse("stubhub", c.get("/stubhub/search/catalog/events/v3", params={
                "rows": 500, "start": start}, headers=bearer).content)
            out += parsed.events
            start += 500
            if not parsed.page.has_more:
                break
        orgs = parse("eventbrite", c.get("/eventbrite/v3/users/me/organizations/",
                                         headers=bearer).content).refs
        for org in orgs:
            out += parse("eventbrite", c.get(f"/eventbrite/v3/organizations/{org}/events/",
                                             params={"expand": "venue", "page_size": 200},
                                             headers=bearer).content).events
    return out
