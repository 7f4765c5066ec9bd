"""Eventbrite: the organizations' live events (``continuation`` paging, venue expanded),
event details, and ticket classes (primary price tiers; money in minor units).

Organization ids come from ``EVENTBRITE_ORGANIZATIONS``; when it is empty, from the
token's own organizations (``/v3/users/me/organizations/``). Eventbrite cannot filter an
organization's events by city, keyword or date, so those filters apply client-side.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scrapy.http import Request, Response

from crawler.items import PageRecords
from crawler.spiders._base import MarketplaceSpider


class EventbriteSpider(MarketplaceSpider):
    name = "eventbrite"
    marketplace = "eventbrite"
    base_url_setting = "EVENTBRITE_BASE_URL"

    # -- discovery -----------------------------------------------------------------------
    def discovery_requests(self) -> Iterable[Request]:
        configured = str(self.settings.get("EVENTBRITE_ORGANIZATIONS") or "")
        organizations = [o.strip() for o in configured.split(",") if o.strip()]
        if not organizations:
            yield self.api_request("/v3/users/me/organizations/",
                                   callback=self.parse_organizations)
            return
        for organization in organizations:
            yield self._org_events(organization, None, 1)

    def parse_organizations(self, response: Response) -> Iterable[PageRecords | Request]:
        parsed = self.parse_response(response)
        yield self.page_records(response, parsed)
        for organization in parsed.refs if parsed else []:
            yield self._org_events(organization, None, 1)
        if parsed and parsed.page and parsed.page.has_more and parsed.page.continuation:
            yield self.api_request("/v3/users/me/organizations/",
                                   {"continuation": parsed.page.continuation},
                                   callback=self.parse_organizations)

    def _org_events(self, organization: str, continuation: str | None, page: int) -> Request:
        return self.api_request(
            f"/v3/organizations/{organization}/events/",
            {"status": "live", "page_size": self.page_size, "expand": "venue",
             "continuation": continuation},
            callback=self.parse_org_events, meta={"organization": organization, "page": page})

    def parse_org_events(self, response: Response) -> Iterable[PageRecords | Request]:
        parsed = self.parse_response(response)
        events = [e for e in parsed.events if self.wanted(e)] if parsed else []
        yield self.page_records(response, parsed, events=events)
        page = response.meta["page"]
        if parsed and parsed.page and parsed.page.has_more and parsed.page.continuation \
                and self.pages_allowed(page + 1) > page:
            yield self._org_events(response.meta["organization"], parsed.page.continuation,
                                   page + 1)
        yield from self.follow_events(events)

    # -- one event -------------------------------------------------------------------------
    def event_requests(self, event_id: str) -> Iterable[Request]:
        yield self.api_request(f"/v3/events/{event_id}/", {"expand": "venue"},
                               callback=self.parse_event, priority=10)
        yield from self.listing_requests(event_id)

    def parse_event(self, response: Response) -> Iterable[PageRecords]:
        yield self.page_records(response, self.parse_response(response))

    # -- listings: ticket classes ------------------------------------------------------------
    def _classes(self, event_id: str, continuation: str | None, page: int) -> Request:
        return self.api_request(f"/v3/events/{event_id}/ticket_classes/",
                                {"continuation": continuation}, callback=self.parse_classes,
                                meta={"listings_of": event_id, "page": page})

    def listing_requests(self, event_id: str) -> list[Request]:
        self.listings_started(event_id, 1)
        return [self._classes(event_id, None, 1)]

    def parse_classes(self, response: Response) -> Iterable[Any]:
        event_id, page = response.meta["listings_of"], response.meta["page"]
        parsed = self.parse_response(response, event_id=event_id)
        more: list[Request] = []
        if parsed is None:
            self._incomplete.add(event_id)
        elif parsed.page and parsed.page.has_more:
            if parsed.page.continuation and self.pages_allowed(page + 1) > page:
                more = [self._classes(event_id, parsed.page.continuation, page + 1)]
            else:
                self._incomplete.add(event_id)
        yield self.page_records(response, parsed,
                                complete=self._listing_done(event_id, len(more)))
        yield from more
