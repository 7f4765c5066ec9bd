"""StubHub: catalog event search and events, and listings either from the inventory
search API (buyer vs seller price, all pages) or from the event web page rendered in
Chromium (``render=1`` or setting ``RIPCITY_STUBHUB_RENDER``), whose listings a script
inserts after load.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from scrapy.http import Request, Response

from crawler import browser
from crawler.items import PageRecords
from crawler.spiders._base import MarketplaceSpider, _flag

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class StubHubSpider(MarketplaceSpider):
    name = "stubhub"
    marketplace = "stubhub"
    base_url_setting = "STUBHUB_BASE_URL"

    #: render even when ``RIPCITY_STUBHUB_RENDER`` is off (the ``render`` argument wins)
    render_default = False

    def __init__(self, *args: Any, render: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.render_arg = render

    def _configure(self, crawler: Crawler) -> None:
        super()._configure(crawler)
        s = crawler.settings
        self.render = _flag(self.render_arg) if self.render_arg is not None else (
            self.render_default or s.getbool("RIPCITY_STUBHUB_RENDER", False))
        self.web_url = str(s.get("STUBHUB_WEB_URL") or "").rstrip("/")
        if self.render and not s.frozen:
            browser.enable_browser(s)

    # -- discovery -----------------------------------------------------------------------
    def _search(self, start: int) -> Request:
        date = None
        if self.start_at or self.end_at:
            lo = self.start_at.strftime("%Y-%m-%dT%H:%M") if self.start_at else "*"
            hi = self.end_at.strftime("%Y-%m-%dT%H:%M") if self.end_at else "*"
            date = f"{lo} TO {hi}"
        params = {"city": self.city, "q": self.keyword, "categoryName": self.classification,
                  "date": date, "start": start, "rows": self.page_size,
                  "sort": "eventDateLocal asc"}
        return self.api_request("/search/catalog/events/v3", params, callback=self.parse_search,
                                meta={"start": start})

    def discovery_requests(self) -> Iterable[Request]:
        yield self._search(0)

    def parse_search(self, response: Response) -> Iterable[PageRecords | Request]:
        parsed = self.parse_response(response)
        events = [e for e in parsed.events if self.wanted(e)] if parsed else []
        yield self.page_records(response, parsed, events=events)
        if parsed and response.meta["start"] == 0 and parsed.page and parsed.page.total_items:
            pages = -(-parsed.page.total_items // self.page_size)
            for n in range(1, self.pages_allowed(pages)):
                yield self._search(n * self.page_size)
        yield from self.follow_events(events)

    # -- one event -------------------------------------------------------------------------
    def event_requests(self, event_id: str) -> Iterable[Request]:
        yield self.api_request(f"/catalog/events/v3/{event_id}", callback=self.parse_event,
                               priority=10)
        yield from self.listing_requests(event_id)

    def parse_event(self, response: Response) -> Iterable[PageRecords]:
        yield self.page_records(response, self.parse_response(response))

    # -- listings --------------------------------------------------------------------------
    def _inventory(self, event_id: str, start: int) -> Request:
        return self.api_request(
            "/search/inventory/v2",
            {"eventId": event_id, "start": start, "rows": self.page_size,
             "sectionStats": "true", "zoneStats": "true", "pricingSummary": "true"},
            callback=self.parse_inventory, meta={"listings_of": event_id, "start": start})

    def listing_requests(self, event_id: str) -> list[Request]:
        self.listings_started(event_id, 1)
        if self.render:
            meta = {"listings_of": event_id, "download_slot": "stubhub_web",
                    **browser.page_meta()}
            return [Request(f"{self.web_url}/event/{event_id}/", callback=self.parse_page,
                            errback=self.on_error, meta=meta, dont_filter=True)]
        return [self._inventory(event_id, 0)]

    def parse_inventory(self, response: Response) -> Iterable[Any]:
        event_id = response.meta["listings_of"]
        parsed = self.parse_response(response, event_id=event_id)
        more: list[Request] = []
        if parsed is None:
            self._incomplete.add(event_id)
        elif response.meta["start"] == 0 and parsed.page and parsed.page.total_items:
            wanted = -(-parsed.page.total_items // self.page_size)
            allowed = self.pages_allowed(wanted)
            if allowed < wanted:
                self._incomplete.add(event_id)
            more = [self._inventory(event_id, n * self.page_size) for n in range(1, allowed)]
        complete = self._listing_done(event_id, len(more))
        yield self.page_records(response, parsed, complete=complete)
        yield from more

    def parse_page(self, response: Response) -> Iterable[PageRecords | Request]:
        event_id = response.meta["listings_of"]
        attempt = int(response.meta.get("ripcity_page_retry", 0))
        if b"data-error=" in response.body and attempt < self.settings.getint(
                "RIPCITY_RETRY_TIMES"):
            # the page's own fetch of its listings failed (429/5xx): load the page again
            self.crawler.stats.inc_value("ripcity/retries")
            self.crawler.stats.inc_value("ripcity/retries/page_listings_error")
            retry = response.request.replace(dont_filter=True)
            retry.meta["ripcity_page_retry"] = attempt + 1
            yield retry
            return
        parsed = self.parse_response(response, event_id=event_id)
        if parsed is None:
            self._incomplete.add(event_id)
        yield self.page_records(response, parsed, complete=self._listing_done(event_id, 0))


class StubHubWebSpider(StubHubSpider):
    """StubHub listings from the rendered event pages (Chromium) only.

    The engine gives it ``event_ids`` found by the ``stubhub`` spider (``discovers`` is
    False): a browser page per event is costly, so it never searches on its own.
    """

    name = "stubhub_web"
    discovers = False
    render_default = True
