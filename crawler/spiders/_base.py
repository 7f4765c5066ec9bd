"""What every marketplace spider shares: arguments, URL building with credentials,
one ``PageRecords`` per response, bad-format handling, stats, and listing completeness.

Spider arguments (the engine relies on these): ``city``, ``keyword``, ``classification``,
``start``/``end`` (ISO dates), ``event_ids="id1,id2"`` (exactly these events' details and
all their listings pages), ``discover_only=1`` (event search pages only), ``max_pages``
(per paginated sequence), ``shard`` (copied onto every item when the request has none).

Completeness: an event's listings come from one or more paginated requests. The spider
counts them; the response that brings the count to zero carries the event in
``PageRecords.complete_events`` (unless a page failed or ``max_pages`` cut the sequence),
so storage may mark listings that were not seen as gone.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request

from crawler.items import PageRecords
from crawler.middlewares import CREDENTIALS, redact
from crawler.parsers import Parsed, ParseError, parse

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

    from storage.records import EventRecord

logger = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in _TRUE if value is not None else False


def _day(value: str | None, end: bool = False) -> datetime | None:
    """An ISO date or datetime argument -> aware UTC datetime (a bare end date is inclusive)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"spider argument start/end={value!r} is not an ISO date "
                         "(expected e.g. 2026-11-01 or 2026-11-01T19:00:00Z)") from None
    if end and len(value) <= 10:
        parsed = datetime.combine(parsed.date(), time.max)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class MarketplaceSpider(scrapy.Spider):
    """Base class: subclasses set ``marketplace`` / ``base_url_setting`` and the flows."""

    marketplace: str = ""
    base_url_setting: str = ""
    #: whether the engine should give it discovery (event search) work
    discovers = True

    def __init__(self, *args: Any, city: str | None = None, keyword: str | None = None,
                 classification: str | None = None, start: str | None = None,
                 end: str | None = None, event_ids: str | list[str] | None = None,
                 discover_only: Any = None, max_pages: Any = None, shard: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.city = city
        self.keyword = keyword
        self.classification = classification
        self.start_at = _day(start)
        self.end_at = _day(end, end=True)
        if isinstance(event_ids, str):
            event_ids = [e.strip() for e in event_ids.split(",") if e.strip()]
        self.event_ids: list[str] = list(event_ids or [])
        self.discover_only = _flag(discover_only)
        self.max_pages = int(max_pages) if max_pages not in (None, "", "0", 0) else None
        self.shard = shard
        self._outstanding: dict[str, int] = {}  # event -> listing requests not yet answered
        self._incomplete: set[str] = set()  # events with a failed or truncated listing page
        self._seen_events: set[str] = set()

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> MarketplaceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._configure(crawler)
        return spider

    def _configure(self, crawler: Crawler) -> None:
        """Settings that depend on the marketplace (settings are not frozen yet here)."""
        s = crawler.settings
        if s.frozen:
            return
        slots = dict(s.getdict("DOWNLOAD_SLOTS"))
        limited = s.getbool("RIPCITY_RATE_LIMITS", True)
        for name, conf in s.getdict("RIPCITY_SLOTS").items():
            slots.setdefault(name, dict(conf) if limited else dict(
                s.getdict("RIPCITY_UNLIMITED_SLOT")))
        s.set("DOWNLOAD_SLOTS", slots, priority="spider")
        if not limited:
            s.set("AUTOTHROTTLE_ENABLED", False, priority="spider")
        self.base_url = str(s.get(self.base_url_setting) or "").rstrip("/")
        if not self.base_url:
            raise ValueError(f"{self.name}: setting {self.base_url_setting} is empty; set "
                             f"RIPCITY_{self.base_url_setting} to the marketplace's base URL")
        sizes = s.getdict("RIPCITY_PAGE_SIZES")
        self.page_size = int(sizes.get(self.marketplace, 100))

    # -- requests ------------------------------------------------------------------------
    def api_request(self, path: str, params: dict[str, Any] | None = None, *,
                    callback: Any, meta: dict[str, Any] | None = None,
                    errback: Any = None, priority: int = 0) -> Request:
        """A request to ``base_url + path`` with the marketplace credential attached."""
        setting, style, name = CREDENTIALS[self.marketplace]
        credential = str(self.settings.get(setting) or "")
        query = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
        headers = {"Accept": "application/json"}
        if style == "query":
            query[name] = credential
        elif credential:
            headers[name] = f"Bearer {credential}"
        url = self.base_url + path + ("?" + urlencode(query) if query else "")
        return Request(url, callback=callback, errback=errback or self.on_error,
                       headers=headers, meta=dict(meta or {}), priority=priority,
                       dont_filter=True)

    def on_error(self, failure: Failure) -> Iterable[PageRecords]:
        """A request failed for good (retries exhausted, 404, ...): log, count, and mark
        its event's listing set incomplete."""
        request = getattr(failure, "request", None)
        meta = request.meta if request is not None else {}
        self.crawler.stats.inc_value("ripcity/failed_requests")
        if not failure.check(IgnoreRequest):  # ignored ones were logged where ignored
            logger.error("%(spider)s: request failed for good: %(url)s (%(error)s)",
                         {"spider": self.name, "url": redact(getattr(request, "url", "?")),
                          "error": failure.getErrorMessage()[:200]})
        event = meta.get("listings_of")
        if event:
            self._incomplete.add(event)
            self._listing_done(event, 0)
        return []

    # -- listing completeness -------------------------------------------------------------
    def listings_started(self, event_id: str, requests: int) -> None:
        self._outstanding[event_id] = self._outstanding.get(event_id, 0) + requests

    def _listing_done(self, event_id: str, more: int) -> str | None:
        """One listing response for ``event_id`` arrived (and ``more`` were scheduled):
        returns the event id when its listing set is now complete."""
        left = self._outstanding.get(event_id, 0) - 1 + more
        self._outstanding[event_id] = left
        if left > 0:
            return None
        self._outstanding.pop(event_id, None)
        if event_id in self._incomplete:
            self.crawler.stats.inc_value("ripcity/events_incomplete")
            return None
        self.crawler.stats.inc_value("ripcity/events_complete")
        return event_id

    def pages_allowed(self, wanted: int) -> int:
        """How many pages of a sequence to fetch, honouring ``max_pages``."""
        return wanted if self.max_pages is None else min(wanted, self.max_pages)

    # -- parsing -------------------------------------------------------------------------
    def parse_response(self, response: scrapy.http.Response, **kwargs: Any) -> Parsed | None:
        """Run the pure parser; a response in the wrong format fails only this request."""
        body = response.meta.pop("ripcity_json", None)
        if body is None:
            body = response.body
        try:
            return parse(self.marketplace, body, source=response.url,
                         observed_at=datetime.now(UTC), **kwargs)
        except ParseError as err:
            self.crawler.stats.inc_value("ripcity/bad_format")
            logger.error("%(spider)s: cannot read %(url)s (HTTP %(status)d): %(error)s",
                         {"spider": self.name, "url": response.url, "status": response.status,
                          "error": err})
            return None

    def page_records(self, response: scrapy.http.Response, parsed: Parsed | None,
                     complete: str | None = None,
                     events: list[EventRecord] | None = None) -> PageRecords:
        """The one item of a response; counts pages, listings and rejects in stats."""
        stats = self.crawler.stats
        item = PageRecords(self.marketplace, response.url,
                           shard=response.meta.get("shard") or self.shard)
        if parsed is not None:
            item.listings = parsed.listings
            item.events = parsed.events if events is None else events
            item.stats = parsed.stats
            item.rejects = parsed.rejects
        if complete:
            item.complete_events = [complete]
        stats.inc_value("ripcity/pages")
        stats.inc_value(f"ripcity/pages/{parsed.endpoint if parsed else 'unreadable'}")
        if item.listings.num_rows:
            stats.inc_value("ripcity/listings", item.listings.num_rows)
        if item.events:
            stats.inc_value("ripcity/events", len(item.events))
        if item.stats:
            stats.inc_value("ripcity/price_stats", len(item.stats))
        if item.rejects:
            stats.inc_value("ripcity/quarantined", len(item.rejects))
            for reject in item.rejects:
                stats.inc_value(f"ripcity/quarantined/{reject.reason.replace(' ', '_')}")
        return item

    def wanted(self, event: EventRecord) -> bool:
        """Client-side filters (for APIs that cannot filter) and de-duplication of events."""
        if event.source_event_id in self._seen_events:
            return False
        if self.start_at and event.starts_at and event.starts_at < self.start_at:
            return False
        if self.end_at and event.starts_at and event.starts_at > self.end_at:
            return False
        if self.city and event.venue_city and self.city.lower() not in event.venue_city.lower():
            return False
        if self.keyword:
            haystack = " ".join((event.name, *event.performers)).lower()
            if not all(word in haystack for word in self.keyword.lower().split()):
                return False
        self._seen_events.add(event.source_event_id)
        return True

    # -- flows (subclasses) ----------------------------------------------------------------
    async def start(self) -> AsyncIterator[Request]:
        if self.event_ids:
            for event_id in self.event_ids:
                for request in self.event_requests(event_id):
                    yield request
        else:
            for request in self.discovery_requests():
                yield request

    def discovery_requests(self) -> Iterable[Request]:
        raise NotImplementedError

    def event_requests(self, event_id: str) -> Iterable[Request]:
        """Details + listings of one event (``event_ids`` mode)."""
        raise NotImplementedError

    def listing_requests(self, event_id: str) -> list[Request]:
        """The first listing request(s) of one event; registers them for completeness."""
        raise NotImplementedError

    def follow_events(self, events: list[EventRecord]) -> Iterable[Request]:
        """Listing requests for discovered events (none when ``discover_only``)."""
        if self.discover_only:
            return
        for event in events:
            yield from self.listing_requests(event.source_event_id)
