"""SeatGeek: ``/2/events`` search (all pages, ``stats`` as event price points), event
details, and seat-level listings ``/2/events/{id}/listings`` (all pages, fetched in
parallel once the first page says how many there are)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scrapy.http import Request, Response

from crawler.items import PageRecords
from crawler.spiders._base import MarketplaceSpider


class SeatGeekSpider(MarketplaceSpider):
    name = "seatgeek"
    marketplace = "seatgeek"
    base_url_setting = "SEATGEEK_BASE_URL"

    # -- discovery -----------------------------------------------------------------------
    def _search(self, page: int) -> Request:
        params = {"venue.city": self.city, "q": self.keyword,
                  "taxonomies.name": self.classification,
                  "datetime_utc.gte": self.start_at.strftime("%Y-%m-%dT%H:%M:%S")
                  if self.start_at else None,
                  "datetime_utc.lte": self.end_at.strftime("%Y-%m-%dT%H:%M:%S")
                  if self.end_at else None,
                  "page": page, "per_page": self.page_size}
        return self.api_request("/2/events", params, callback=self.parse_events,
                                meta={"page": page})

    def discovery_requests(self) -> Iterable[Request]:
        yield self._search(1)

    def parse_events(self, response: Response) -> Iterable[PageRecords | Request]:
        parsed = self.parse_response(response)
        events = [e for e in parsed.events if self.wanted(e)] if parsed else []
        yield self.page_records(response, parsed, events=events)
        if parsed and response.meta.get("page") == 1 and parsed.page and parsed.page.total_pages:
            for page in range(2, self.pages_allowed(parsed.page.total_pages) + 1):
                yield self._search(page)
        yield from self.follow_events(events)

    # -- one event -------------------------------------------------------------------------
    def event_requests(self, event_id: str) -> Iterable[Request]:
        yield self.api_request(f"/2/events/{event_id}", callback=self.parse_event,
                               meta={"event_id": event_id}, priority=10)
        yield from self.listing_requests(event_id)

    def parse_event(self, response: Response) -> Iterable[PageRecords]:
        yield self.page_records(response, self.parse_response(response))

    # -- listings ----------------------------------------------------------------------------
    def _listings(self, event_id: str, page: int) -> Request:
        return self.api_request(f"/2/events/{event_id}/listings",
                                {"page": page, "per_page": self.page_size},
                                callback=self.parse_listings,
                                meta={"listings_of": event_id, "page": page})

    def listing_requests(self, event_id: str) -> list[Request]:
        self.listings_started(event_id, 1)
        return [self._listings(event_id, 1)]

    def parse_listings(self, response: Response) -> Iterable[Any]:
        event_id = response.meta["listings_of"]
        parsed = self.parse_response(response, event_id=event_id)
        more: list[Request] = []
        if parsed is None:
            self._incomplete.add(event_id)
        elif response.meta.get("page") == 1 and parsed.page and parsed.page.total_pages:
            wanted = parsed.page.total_pages
            allowed = self.pages_allowed(wanted)
            if allowed < wanted:
                self._incomplete.add(event_id)
            more = [self._listings(event_id, page) for page in range(2, allowed + 1)]
        complete = self._listing_done(event_id, len(more))
        yield self.page_records(response, parsed, complete=complete)
        yield from more
