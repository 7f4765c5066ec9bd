"""Downloader middlewares: one concern each, ordered in ``crawler/settings.py``.

- ``MarketplaceSlotMiddleware``: every request of a spider goes through the download slot
  named after its marketplace, so per-marketplace rate limits hold even when all
  marketplaces share one host (the sandbox).
- ``RequestBudgetMiddleware``: stops a spider when its daily request budget is spent.
- ``BadCredentialsMiddleware``: a 401/403 closes the spider with reason
  ``bad_credentials`` and one log line naming the setting to fix (no retry storm).
- ``BackoffRetryMiddleware``: retries 429/5xx/timeouts and truncated JSON bodies with
  exponential backoff and full jitter, honouring ``Retry-After``; Scrapy's RetryMiddleware
  does neither. It parses each JSON body once (``meta["ripcity_json"]``) so a cut-off
  body is retried instead of failing its parser.

Counters go to the stats collector under ``ripcity/...``.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from scrapy.exceptions import IgnoreRequest, NotConfigured
from twisted.internet.error import (
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

#: marketplace -> (setting holding the credential, how it is sent, parameter/header name);
#: spiders attach it (``crawler.spiders._base``), this module names it when it is refused
CREDENTIALS: dict[str, tuple[str, str, str]] = {
    "ticketmaster": ("TICKETMASTER_API_KEY", "query", "apikey"),
    "seatgeek": ("SEATGEEK_CLIENT_ID", "query", "client_id"),
    "eventbrite": ("EVENTBRITE_TOKEN", "bearer", "Authorization"),
    "stubhub": ("STUBHUB_TOKEN", "bearer", "Authorization"),
}
_RETRY_EXCEPTIONS = (TimeoutError, TCPTimedOutError, ConnectionRefusedError, ConnectionDone,
                     ConnectionLost, ResponseFailed, ResponseNeverReceived, DNSLookupError,
                     OSError)


def _close_soon(crawler: Crawler, reason: str) -> None:
    """Close the spider without waiting here: closing waits for in-flight downloads, and the
    caller is one of them."""
    from scrapy.utils.defer import deferred_from_coro

    deferred_from_coro(crawler.engine.close_spider_async(reason=reason))


def _marketplace(spider: Spider) -> str:
    return str(getattr(spider, "marketplace", spider.name))


class MarketplaceSlotMiddleware:
    """Route each request through its marketplace's download slot (``meta["download_slot"]``)."""

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        if spider is not None and "download_slot" not in request.meta:
            request.meta["download_slot"] = _marketplace(spider)


class RequestBudgetMiddleware:
    """Stop a spider before it exceeds its marketplace's daily request budget."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.budgets: dict[str, int] = crawler.settings.getdict("RIPCITY_DAILY_BUDGETS")
        self.used = 0
        self.closing = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RequestBudgetMiddleware:
        if not crawler.settings.getdict("RIPCITY_DAILY_BUDGETS"):
            raise NotConfigured
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        # retries count too: a quota counts calls, not pages
        budget = int(self.budgets.get(_marketplace(self.crawler.spider), 0) or 0)
        if budget <= 0:
            return
        self.used += 1
        if self.used > budget:
            if not self.closing:
                self.closing = True
                logger.error("%(name)s: daily request budget of %(budget)d spent; stopping. "
                             "Raise RIPCITY_%(upper)s_DAILY_BUDGET if your quota allows.",
                             {"name": self.crawler.spider.name, "budget": budget,
                              "upper": _marketplace(self.crawler.spider).upper()})
                self.crawler.stats.set_value("ripcity/budget_exhausted", 1)
                _close_soon(self.crawler, "budget_exhausted")
            raise IgnoreRequest("daily request budget spent")


class BadCredentialsMiddleware:
    """401/403 -> close the spider (``bad_credentials``) with one actionable log line."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.closing = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BadCredentialsMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response,
                         spider: Spider | None = None) -> Response:
        if response.status not in (401, 403):
            return response
        self.crawler.stats.inc_value(f"ripcity/http_{response.status}")
        if not self.closing:
            self.closing = True
            market = _marketplace(self.crawler.spider)
            setting = CREDENTIALS.get(market, ("credentials",))[0]
            logger.error(
                "%(market)s refused our credentials (HTTP %(status)d at %(url)s: %(body)s). "
                "Set RIPCITY_%(setting)s (Scrapy setting %(setting)s) to a valid value.",
                {"market": market, "status": response.status, "url": redact(request.url),
                 "body": response.body[:160].decode("utf-8", "replace").strip(),
                 "setting": setting})
            self.crawler.stats.set_value("ripcity/bad_credentials", 1)
            _close_soon(self.crawler, "bad_credentials")
        raise IgnoreRequest(f"HTTP {response.status}: bad credentials")


def redact(url: str) -> str:
    """The URL with credentials in its query masked, for logs."""
    parts = urlsplit(url)
    query = [(k, "***" if k in ("apikey", "client_id", "token") else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _retryable(exception: BaseException) -> bool:
    """Network trouble, or a browser page that never finished (cut off, script failed)."""
    if isinstance(exception, _RETRY_EXCEPTIONS):
        return True
    return type(exception).__module__.startswith("playwright") and \
        type(exception).__name__ == "TimeoutError"


def _is_json(response: Response) -> bool:
    content_type = response.headers.get("Content-Type") or b""
    if b"json" in content_type:
        return True
    return not content_type and response.body[:1] in (b"{", b"[")


def retry_after_seconds(value: bytes | str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class BackoffRetryMiddleware:
    """Retry transient failures with exponential backoff + full jitter and ``Retry-After``.

    The wait happens here (the request is re-sent after it), so a 429's ``Retry-After`` is
    honoured exactly; other requests keep flowing meanwhile.
    """

    def __init__(self, crawler: Crawler) -> None:
        s = crawler.settings
        self.crawler = crawler
        self.max_retries = s.getint("RIPCITY_RETRY_TIMES")
        self.codes = {int(c) for c in s.getlist("RIPCITY_RETRY_HTTP_CODES")}
        self.base = s.getfloat("RIPCITY_RETRY_BASE_DELAY")
        self.cap = s.getfloat("RIPCITY_RETRY_MAX_DELAY")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        if crawler.settings.getint("RIPCITY_RETRY_TIMES") <= 0:
            raise NotConfigured
        return cls(crawler)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = random.uniform(0, min(self.cap, self.base * 2 ** attempt))
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap * 4) + random.uniform(0, self.base / 4)
        return backoff

    async def _retry(self, request: Request, cause: str, retry_after: float | None = None
                     ) -> Request | None:
        stats = self.crawler.stats
        attempt = int(request.meta.get("ripcity_retry", 0))
        if attempt >= self.max_retries:
            stats.inc_value("ripcity/retries/gave_up")
            stats.inc_value(f"ripcity/retries/gave_up/{cause}")
            logger.error("giving up on %(url)s after %(n)d retries (last: %(cause)s)",
                         {"url": redact(request.url), "n": attempt, "cause": cause})
            return None
        stats.inc_value("ripcity/retries")
        stats.inc_value(f"ripcity/retries/{cause}")
        delay = self._delay(attempt, retry_after)
        if delay > 0:
            from scrapy.utils.asyncio import sleep

            await sleep(delay)
        retry = request.replace(dont_filter=True)
        retry.meta["ripcity_retry"] = attempt + 1
        retry.priority = request.priority + 1
        return retry

    async def process_response(self, request: Request, response: Response,
                               spider: Spider | None = None) -> Request | Response:
        if request.meta.get("dont_retry"):
            return response
        if response.status == 200:
            if not _is_json(response):
                return response
            try:
                # parsed once here; the spider hands the object to the pure parser
                request.meta["ripcity_json"] = orjson.loads(response.body)
            except orjson.JSONDecodeError:
                retry = await self._retry(request, "truncated_body")
                return retry if retry is not None else response
            return response
        if response.status not in self.codes:
            return response
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        retry = await self._retry(request, f"http_{response.status}", retry_after)
        return retry if retry is not None else response

    async def process_exception(self, request: Request, exception: BaseException,
                                spider: Spider | None = None) -> Request | None:
        if not _retryable(exception) or request.meta.get("dont_retry"):
            return None
        cause = type(exception).__name__.lower()
        retry = await self._retry(request, cause)
        if retry is None:
            return None
        return retry
