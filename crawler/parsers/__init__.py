"""Pure parsers: one marketplace response (bytes or parsed JSON) in, canonical records out.

Callable without Scrapy or a network: ``parse("seatgeek", body)`` returns a ``Parsed``
with the page's listings as one Arrow batch of ``LISTING_SCHEMA`` plus events, price
stats and rejects. Each marketplace module recognises which of its endpoints a response
came from by the response's shape. A response it cannot read raises ``ParseError``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from crawler.parsers import eventbrite, seatgeek, stubhub, ticketmaster
from crawler.parsers._common import PageInfo, Parsed, ParseError

__all__ = ["PARSERS", "PageInfo", "ParseError", "Parsed", "parse"]

PARSERS: dict[str, Callable[..., Parsed]] = {
    "ticketmaster": ticketmaster.parse,
    "seatgeek": seatgeek.parse,
    "eventbrite": eventbrite.parse,
    "stubhub": stubhub.parse,
}


def parse(marketplace: str, body: Any, *, source: str | None = None,
          observed_at: datetime | None = None, event_id: str | None = None) -> Parsed:
    """Parse one response of ``marketplace``.

    Args:
        marketplace: one of ``PARSERS``.
        body: the response body (bytes/str) or its already-parsed JSON.
        source: the URL or file it came from (kept on rejects; may name the event).
        observed_at: when it was fetched (UTC); now by default.
        event_id: the marketplace event id, for endpoints whose body does not say it.
    """
    try:
        parser = PARSERS[marketplace]
    except KeyError:
        raise ParseError(f"unknown marketplace {marketplace!r}; expected one of "
                         f"{', '.join(PARSERS)}") from None
    return parser(body, source=source, observed_at=observed_at, event_id=event_id)
