"""Scrapy settings of the Rip City crawler (``scrapy.cfg`` points here): Scrapy defaults only.

Nothing here reads the environment. Marketplace base URLs, credentials, daily budgets, the
Chromium path, the log level and the data directory come from our settings at crawl start:
the engine passes them to its crawl workers (``engine.crawl.settings``), and a standalone
``scrapy crawl`` gets them from ``RIPCITY_*`` through ``crawler.addons.EnvironmentSettingsAddon``
(``ADDONS`` below). So the same spiders run against the real services or the sandbox.
Anything here can be overridden per crawl (``-s NAME=value`` or the settings a
``CrawlerRunner`` is built with).

Rate limits: each spider sends its requests through a download slot named after its
marketplace (``request.meta["download_slot"]``), sized by ``DOWNLOAD_SLOTS`` from the
real APIs' quotas; ``RIPCITY_RATE_LIMITS=0`` lifts them (sandbox, benchmarks).
"""

from __future__ import annotations

BOT_NAME = "ripcity"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
ROBOTSTXT_OBEY = False  # documented public APIs, not web pages
TELNETCONSOLE_ENABLED = False
# Scrapy's check for generator callbacks that return a value parses the callback's source
# with ``ast`` on every response (its cache is keyed by the short-lived bound method): 5 %
# of a crawl worker's CPU. Our callbacks are covered by the spider tests instead.
WARN_ON_GENERATOR_RETURN_VALUE = False
USER_AGENT = "RipCityTicketDispatch/0.1 (+https://github.com/ripcity)"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"

# --- our settings, filled at crawl start (marketplaces, budgets, Chromium, log level) -----
ADDONS = {"crawler.addons.EnvironmentSettingsAddon": 0}
#: True: a standalone crawl reads its marketplace settings from RIPCITY_* when it starts;
#: the engine passes them itself and sets False
RIPCITY_SETTINGS_FROM_ENV = True
#: StubHub listings from the rendered event page (Chromium) instead of the inventory API
RIPCITY_STUBHUB_RENDER = False
#: page sizes: as large as each API allows (fewer responses = less per-request overhead)
RIPCITY_PAGE_SIZES = {
    "ticketmaster": 200,  # Discovery and Top Picks cap size at 200 (and page*size < 1000)
    "seatgeek": 500,
    "eventbrite": 200,
    "stubhub": 500,
}

# --- politeness and rate limits -----------------------------------------------------------
#: False lifts the per-marketplace slots below (sandbox and benchmarks)
RIPCITY_RATE_LIMITS = True
#: the real APIs' published quotas, as Scrapy download slots (one per marketplace)
RIPCITY_SLOTS = {
    "ticketmaster": {"concurrency": 5, "delay": 0.2, "jitter": 0.1},  # 5 requests/s
    "seatgeek": {"concurrency": 4, "delay": 0.1, "jitter": 0.1},
    "eventbrite": {"concurrency": 2, "delay": 0.1, "jitter": 0.1},  # 2,000 calls/hour
    "stubhub": {"concurrency": 2, "delay": 6.0, "jitter": 0.1},  # 10 requests/min
    "stubhub_web": {"concurrency": 2, "delay": 1.0, "jitter": 0.2},
}
#: the same marketplaces without limits (RIPCITY_RATE_LIMITS = False)
RIPCITY_UNLIMITED_SLOT = {"concurrency": 32, "delay": 0.0, "jitter": 0.0}
CONCURRENT_REQUESTS = 32
#: items are one per response, so Scrapy's 100 parallel item workers (an asyncio task each,
#: per response) are pure overhead
CONCURRENT_ITEMS = 4
CONCURRENT_REQUESTS_PER_DOMAIN = 16
DOWNLOAD_TIMEOUT = 30
# APIs authenticate with keys, not sessions: no cookie jar or Referer work per request
COOKIES_ENABLED = False
REFERER_ENABLED = False
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 4.0

# --- retries: ours back off with jitter and honour Retry-After; Scrapy's is replaced -------
RETRY_ENABLED = False
RIPCITY_RETRY_TIMES = 8
RIPCITY_RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 520, 522, 524, 408]
RIPCITY_RETRY_BASE_DELAY = 0.5  # seconds; doubles per attempt, full jitter
RIPCITY_RETRY_MAX_DELAY = 30.0
HTTPERROR_ALLOWED_CODES: list[int] = []

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.MarketplaceSlotMiddleware": 90,
    "crawler.middlewares.RequestBudgetMiddleware": 95,
    "crawler.middlewares.BadCredentialsMiddleware": 540,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
}

ITEM_PIPELINES = {
    "crawler.pipelines.ParquetExportPipeline": 800,
}
#: the standalone ``scrapy crawl`` writes listings to $RIPCITY_DATA_DIR/crawl/*.parquet;
#: a long-lived engine process that collects items itself sets this to False
RIPCITY_PARQUET_EXPORT = True

# --- the browser (StubHub event pages) ------------------------------------------------------
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000
RIPCITY_CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
