"""The marketplace spiders, by name (the engine looks them up here): one per marketplace,
plus ``stubhub_web``, StubHub's listings read from its browser-rendered pages."""

from __future__ import annotations

from crawler.spiders._base import MarketplaceSpider
from crawler.spiders.eventbrite import EventbriteSpider
from crawler.spiders.seatgeek import SeatGeekSpider
from crawler.spiders.stubhub import StubHubSpider, StubHubWebSpider
from crawler.spiders.ticketmaster import TicketmasterSpider

__all__ = ["SPIDERS", "EventbriteSpider", "MarketplaceSpider", "SeatGeekSpider",
           "StubHubSpider", "StubHubWebSpider", "TicketmasterSpider"]

SPIDERS: dict[str, type[MarketplaceSpider]] = {
    "ticketmaster": TicketmasterSpider,
    "seatgeek": SeatGeekSpider,
    "eventbrite": EventbriteSpider,
    "stubhub": StubHubSpider,
    #: the same marketplace through its web pages in Chromium (engine: browser shards)
    "stubhub_web": StubHubWebSpider,
}
