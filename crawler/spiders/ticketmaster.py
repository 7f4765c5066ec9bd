"""Ticketmaster: Discovery v2 event search (all pages), event details, Commerce v2 offers
(primary price points) and Top Picks (seat-level listings, all pages).

Discovery refuses ``page * size >= 1000``. When a search has more results than that, the
spider sorts by date and continues with a new window starting at the last start time it
saw (keyset paging), de-duplicating events by id, so every event is reached.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from scrapy.http import Request, Response

from crawler.items import PageRecords
from crawler.spiders._base import MarketplaceSpider

_DEPTH = 1000  # Discovery's paging limit: page * size < 1000


def _tm_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class TicketmasterSpider(MarketplaceSpider):
    name = "ticketmaster"
    marketplace = "ticketmaster"
    base_url_setting = "TICKETMASTER_BASE_URL"

    # -- discovery -----------------------------------------------------------------------
    def _search(self, page: int, window: datetime | None) -> Request:
        start = window or self.start_at
        params = {"city": self.city, "keyword": self.keyword,
                  "classificationName": self.classification,
                  "startDateTime": _tm_time(start) if start else None,
                  "endDateTime": _tm_time(self.end_at) if self.end_at else None,
                  "size": self.page_size, "page": page, "sort": "date,asc"}
        self._search_pages += 1
        return self.api_request("/discovery/v2/events.json", params, callback=self.parse_search,
                                meta={"page": page, "window": window})

    def discovery_requests(self) -> Iterable[Request]:
        #: window start -> [pages still expected, latest start seen, more beyond the depth]
        self._windows: dict[datetime | None, list[Any]] = {}
        self._search_pages = 0
        yield self._search(0, None)

    def _pages_left(self) -> int:
        return 1 << 30 if self.max_pages is None else self.max_pages - self._search_pages

    def parse_search(self, response: Response) -> Iterable[PageRecords | Request]:
        parsed = self.parse_response(response)
        events = [e for e in parsed.events if self.wanted(e)] if parsed else []
        yield self.page_records(response, parsed, events=events)
        yield from self.follow_events(events)
        if parsed is None or parsed.page is None:
            return
        page, window = response.meta["page"], response.meta["window"]
        if page == 0:
            reachable = (_DEPTH - 1) // self.page_size + 1
            total_pages = parsed.page.total_pages or 0
            extra = max(0, min(total_pages, reachable) - 1)
            extra = min(extra, max(0, self._pages_left()))
            self._windows[window] = [extra, None, total_pages > reachable]
            for n in range(1, extra + 1):
                yield self._search(n, window)
        state = self._windows.get(window)
        if state is None:
            return
        starts = [e.starts_at for e in parsed.events if e.starts_at]
        if starts and (state[1] is None or max(starts) > state[1]):
            state[1] = max(starts)
        if page != 0:
            state[0] -= 1
        if state[0] <= 0:
            del self._windows[window]
            # more results than Discovery pages through: continue after the last start seen
            if state[2] and state[1] is not None and state[1] != window \
                    and self._pages_left() > 0:
                yield self._search(0, state[1])

    # -- one event -------------------------------------------------------------------------
    def event_requests(self, event_id: str) -> Iterable[Request]:
        yield self.api_request(f"/discovery/v2/events/{event_id}.json",
                               callback=self.parse_details, priority=10)
        yield from self.listing_requests(event_id)

    def parse_details(self, response: Response) -> Iterable[PageRecords]:
        yield self.page_records(response, self.parse_response(response))

    # -- listings: commerce offers (price points) + top picks (seats) ------------------------
    def _picks(self, event_id: str, page: int) -> Request:
        return self.api_request(f"/top-picks/v1/events/{event_id}",
                                {"page": page, "size": self.page_size},
                                callback=self.parse_picks,
                                meta={"listings_of": event_id, "page": page})

    def listing_requests(self, event_id: str) -> list[Request]:
        self.listings_started(event_id, 2)
        return [
            self.api_request(f"/commerce/v2/events/{event_id}/offers.json",
                             callback=self.parse_offers, meta={"listings_of": event_id}),
            self._picks(event_id, 0),
        ]

    def parse_offers(self, response: Response) -> Iterable[PageRecords]:
        event_id = response.meta["listings_of"]
        parsed = self.parse_response(response, event_id=event_id)
        if parsed is None:
            self._incomplete.add(event_id)
        yield self.page_records(response, parsed, complete=self._listing_done(event_id, 0))

    def parse_picks(self, response: Response) -> Iterable[Any]:
        event_id = response.meta["listings_of"]
        parsed = self.parse_response(response, event_id=event_id)
        more: list[Request] = []
        if parsed is None:
            self._incomplete.add(event_id)
        elif response.meta.get("page") == 0 and parsed.page and parsed.page.total_pages:
            wanted = parsed.page.total_pages
            allowed = self.pages_allowed(wanted)
            if allowed < wanted:
                self._incomplete.add(event_id)
            more = [self._picks(event_id, page) for page in range(1, allowed)]
        complete = self._listing_done(event_id, len(more))
        yield self.page_records(response, parsed, complete=complete)
        yield from more
