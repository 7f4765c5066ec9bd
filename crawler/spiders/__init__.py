"""The marketplace spiders, by marketplace name (the engine looks them up here)."""

from __future__ import annotations

from crawler.spiders._base import MarketplaceSpider
from crawler.spiders.eventbrite import EventbriteSpider
from crawler.spiders.seatgeek import SeatGeekSpider
from crawler.spiders.stubhub import StubHubSpider
from crawler.spiders.ticketmaster import TicketmasterSpider

__all__ = ["SPIDERS", "EventbriteSpider", "MarketplaceSpider", "SeatGeekSpider",
           "StubHubSpider", "TicketmasterSpider"]

SPIDERS: dict[str, type[MarketplaceSpider]] = {
    "ticketmaster": TicketmasterSpider,
    "seatgeek": SeatGeekSpider,
    "eventbrite": EventbriteSpider,
    "stubhub": StubHubSpider,
}
