"""Behaviour on the wire without a network: credentials, rate-limit slots, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from scrapy.crawler import CrawlerRunner
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler

from crawler.middlewares import BackoffRetryMiddleware, redact, retry_after_seconds
from crawler.spiders import SPIDERS


def _spider(name: str, **settings: object):
    """A crawler whose settings are not frozen yet, made by a runner as the engine and
    ``scrapy crawl`` make it (the runner applies the add-ons: marketplace URLs)."""
    base = get_project_settings()
    base.update(settings, priority="cmdline")
    crawler = CrawlerRunner(base).create_crawler(SPIDERS[name])
    return crawler, SPIDERS[name].from_crawler(crawler)


def test_credentials_go_where_each_api_wants_them() -> None:
    _, tm = _spider("ticketmaster", TICKETMASTER_API_KEY="k1",
                    TICKETMASTER_BASE_URL="http://h/ticketmaster")
    request = tm.api_request("/discovery/v2/events.json", {"city": "Portland", "q": None},
                             callback=tm.parse_search)
    parts = urlsplit(request.url)
    assert parts.path == "/ticketmaster/discovery/v2/events.json"
    assert parse_qs(parts.query) == {"city": ["Portland"], "apikey": ["k1"]}
    _, sh = _spider("stubhub", STUBHUB_TOKEN="t1")
    request = sh.api_request("/search/inventory/v2", {"eventId": 1}, callback=sh.parse_inventory)
    assert request.headers["Authorization"] == b"Bearer t1"
    assert "t1" not in request.url
    assert redact("http://h/x?apikey=k1&city=P") == "http://h/x?apikey=%2A%2A%2A&city=P"


def test_rate_limit_slots_follow_the_real_quotas_unless_lifted() -> None:
    crawler, _ = _spider("ticketmaster")
    slots = crawler.settings.getdict("DOWNLOAD_SLOTS")
    assert slots["ticketmaster"]["delay"] == pytest.approx(0.2)  # 5 requests/s
    assert slots["ticketmaster"]["concurrency"] == 5
    assert crawler.settings.getbool("AUTOTHROTTLE_ENABLED")
    crawler, _ = _spider("seatgeek", RIPCITY_RATE_LIMITS=False)
    assert crawler.settings.getdict("DOWNLOAD_SLOTS")["seatgeek"]["delay"] == 0
    assert not crawler.settings.getbool("AUTOTHROTTLE_ENABLED")


def test_spider_arguments() -> None:
    sg = SPIDERS["seatgeek"](event_ids="1, 2,,3", discover_only="1", max_pages="4",
                             start="2026-11-01", end="2026-11-30")
    assert sg.event_ids == ["1", "2", "3"] and sg.discover_only and sg.max_pages == 4
    assert sg.end_at == datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO date"):
        SPIDERS["seatgeek"](start="next tuesday")


def test_retry_after_seconds_and_http_dates() -> None:
    assert retry_after_seconds(b"3") == 3.0
    assert retry_after_seconds("0") == 0.0
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(later, now=now.timestamp()) == pytest.approx(90)
    assert retry_after_seconds(None) is None
    assert retry_after_seconds(b"soon") is None


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    crawler = get_crawler(settings_dict={"RIPCITY_RETRY_TIMES": 5, "RIPCITY_RETRY_HTTP_CODES":
                                         [429, 503], "RIPCITY_RETRY_BASE_DELAY": 0.5,
                                         "RIPCITY_RETRY_MAX_DELAY": 30.0})
    mw = BackoffRetryMiddleware.from_crawler(crawler)
    for attempt in range(6):
        delays = [mw._delay(attempt, None) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= min(30.0, 0.5 * 2 ** attempt)
    assert len({round(mw._delay(3, None), 6) for _ in range(20)}) > 1  # jittered
    assert all(7.0 <= mw._delay(0, 7.0) <= 7.0 + 0.125 for _ in range(50))
