"""Crawl throughput against the sandbox: ``python -m bench.crawl --listings 500000``.

Starts a sandbox in another process (faults "light": 429s, 5xx, slow and truncated
responses, malformed listings), crawls every event's listings with the SeatGeek,
Ticketmaster, StubHub (inventory API) and Eventbrite spiders concurrently in this process,
and prints ONE JSON object: pages, listings, seconds, pages_per_s, listings_per_s (and
per second of the crawler's own CPU, which other load on the machine does not skew, and
its inverse ``cpu_us_per_listing``),
``missed`` / ``duplicated`` / ``unexpected`` listings against the sandbox truth, the
workload, and ``scrapy_bench_pages_per_s`` from ``scrapy bench`` run in the same
invocation (a baseline for this machine).

Two passes run: the first also makes the sandbox generate every page (its cost is the
sandbox's, not the crawler's); the second is the measured one and sees the sandbox's
response cache, so it measures the crawler. Both are reported (``cold`` holds the first).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from bench.harness import Stopwatch, arguments, emit, truth_events

SPIDERS = ("seatgeek", "ticketmaster", "stubhub", "eventbrite")
RESALE = ("ticketmaster", "seatgeek", "stubhub")


# --- truth ------------------------------------------------------------------------------------

def expected_listings(events: list[dict[str, Any]], marketplace: str
                      ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(event id -> well-formed listing ids, event id -> malformed listing ids) on one
    marketplace, keyed by the marketplace's own event id."""
    good: dict[str, set[str]] = {}
    bad: dict[str, set[str]] = {}
    for event in events:
        event_id = event["ids"].get(marketplace)
        if event_id is None:
            continue
        good.setdefault(event_id, set())
        bad.setdefault(event_id, set())
        for listing in event["listings"]:
            shown = listing["marketplaces"].get(marketplace)
            if shown is None:
                continue
            (bad if shown.get("malformed") else good)[event_id].add(str(shown["listing_id"]))
    return good, bad


def compare(table: pa.Table, marketplace: str, expected: dict[str, set[str]]
            ) -> dict[str, int]:
    """Missed / duplicated / unexpected listings of ``marketplace`` in a crawl's table."""
    mine = table.filter(pc.equal(table["marketplace"], marketplace))
    pairs = Counter(zip(mine["source_event_id"].to_pylist(), mine["listing_id"].to_pylist(),
                        strict=True))
    want = {(e, i) for e, ids in expected.items() for i in ids}
    got = set(pairs)
    return {"missed": len(want - got), "duplicated": sum(n - 1 for n in pairs.values() if n > 1),
            "unexpected": len(got - want), "expected": len(want)}


def sandbox_env(urls: dict[str, str]) -> dict[str, str]:
    """``RIPCITY_*`` variables pointing every spider at a sandbox."""
    return {
        "RIPCITY_TICKETMASTER_BASE_URL": urls["ticketmaster"],
        "RIPCITY_SEATGEEK_BASE_URL": urls["seatgeek"],
        "RIPCITY_EVENTBRITE_BASE_URL": urls["eventbrite"],
        "RIPCITY_STUBHUB_BASE_URL": urls["stubhub"],
        "RIPCITY_STUBHUB_WEB_URL": urls["stubhub_web"],
        "RIPCITY_TICKETMASTER_API_KEY": "sandbox", "RIPCITY_SEATGEEK_CLIENT_ID": "sandbox",
        "RIPCITY_EVENTBRITE_TOKEN": "sandbox", "RIPCITY_STUBHUB_TOKEN": "sandbox",
    }


# --- scrapy bench baseline -------------------------------------------------------------------

def scrapy_bench_pages_per_s(seconds: int = 8) -> float | None:
    """Pages/s of ``scrapy bench`` (Scrapy's own local link-following benchmark)."""
    with tempfile.TemporaryDirectory() as cwd:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRAPY_")}
        proc = subprocess.run(
            [sys.executable, "-m", "scrapy", "bench", "-s", f"CLOSESPIDER_TIMEOUT={seconds}",
             "-s", "LOG_LEVEL=INFO"], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=seconds + 120, check=False)
    log = proc.stderr + proc.stdout
    pages = re.search(r"'response_received_count': (\d+)", log)
    elapsed = re.search(r"'elapsed_time_seconds': ([\d.]+)", log)
    if not pages or not elapsed:
        return None
    return round(int(pages.group(1)) / float(elapsed.group(1)), 1)


# --- the crawl --------------------------------------------------------------------------------

def _crawl_twice(extra_settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Run all spiders concurrently, twice in a row on one reactor; per-pass results."""
    from scrapy import signals
    from scrapy.crawler import CrawlerRunner
    from scrapy.utils.log import configure_logging
    from scrapy.utils.project import get_project_settings
    from scrapy.utils.reactor import install_reactor

    from crawler.spiders import SPIDERS as CLASSES

    settings = get_project_settings()
    for name, value in extra_settings.items():
        settings.set(name, value, priority="cmdline")
    install_reactor(settings["TWISTED_REACTOR"])
    configure_logging(settings)
    from twisted.internet import defer, reactor

    from engine.gc_tuning import tune_for_bulk_data

    tune_for_bulk_data()  # as a crawl worker runs it

    runner = CrawlerRunner(settings)
    passes: list[dict[str, Any]] = []

    @defer.inlineCallbacks
    def one_pass() -> Any:
        batches: list[pa.RecordBatch] = []
        counts = Counter()

        def scraped(item: Any, **_: Any) -> None:
            counts["pages"] += 1
            if item.listings.num_rows:
                batches.append(item.listings)
            counts["rejects"] += len(item.rejects)
            counts["complete_events"] += len(item.complete_events)

        crawlers = []
        for name in SPIDERS:
            crawler = runner.create_crawler(CLASSES[name])
            crawler.signals.connect(scraped, signal=signals.item_scraped)
            crawlers.append(crawler)
        with Stopwatch() as watch:
            yield defer.DeferredList([runner.crawl(c) for c in crawlers])
        retries = sum(int(c.stats.get_value("ripcity/retries", 0)) for c in crawlers)
        passes.append({"seconds": watch.seconds, "cpu": watch.cpu_seconds, "batches": batches,
                       "counts": counts, "retries": retries,
                       "reasons": [c.stats.get_value("finish_reason") for c in crawlers]})

    @defer.inlineCallbacks
    def run() -> Any:
        yield one_pass()
        yield one_pass()
        reactor.stop()

    reactor.callWhenRunning(run)
    reactor.run()
    return passes


def main(argv: list[str] | None = None) -> int:
    cli = arguments("bench.crawl", __doc__)
    cli.add_argument("--listings", type=int, default=500_000,
                     help="about how many listings the sandbox holds across marketplaces")
    cli.add_argument("--events", type=int, default=200)
    cli.add_argument("--faults", default="light", choices=("none", "light", "heavy"))
    cli.add_argument("--scrapy-bench-seconds", type=int, default=8)
    opts = cli.parse_args(argv)

    baseline = scrapy_bench_pages_per_s(opts.scrapy_bench_seconds)
    from sandbox.server import start_sandbox

    # listings_per_event is spread over the marketplaces selling the event; Eventbrite adds a
    # few primary tiers per club/comedy show
    per_event = max(1, opts.listings // opts.events)
    sandbox = start_sandbox(port=0, events=opts.events, listings_per_event=per_event,
                            faults=opts.faults)
    try:
        os.environ.update(sandbox_env(sandbox.urls))
        from engine.settings import get_settings

        get_settings.cache_clear()
        passes = _crawl_twice({"RIPCITY_RATE_LIMITS": False, "RIPCITY_PARQUET_EXPORT": False,
                               "LOG_LEVEL": "WARNING", "CONCURRENT_REQUESTS": 32})
        truth = truth_events(sandbox.base_url)
    finally:
        sandbox.stop()

    result: dict[str, Any] = {}
    for label, data in (("cold", passes[0]), ("warm", passes[1])):
        table = pa.Table.from_batches(data["batches"]) if data["batches"] else None
        missed = duplicated = unexpected = expected = 0
        for marketplace in (*RESALE, "eventbrite"):
            good, _bad = expected_listings(truth, marketplace)
            if table is not None:
                diff = compare(table, marketplace, good)
                missed += diff["missed"]
                duplicated += diff["duplicated"]
                unexpected += diff["unexpected"]
                expected += diff["expected"]
        listings = table.num_rows if table is not None else 0
        pages = data["counts"]["pages"]
        result[label] = {
            "pages": pages, "listings": listings, "seconds": round(data["seconds"], 3),
            "pages_per_s": round(pages / data["seconds"], 1),
            "listings_per_s": round(listings / data["seconds"], 1),
            # the crawler's own CPU (this process), insensitive to what else runs on the box
            "crawler_cpu_seconds": round(data["cpu"], 3),
            "listings_per_crawler_cpu_s": round(listings / max(data["cpu"], 1e-9), 1),
            # the figure every change to the path reports (issue 21): CPU per listing
            "cpu_us_per_listing": round(data["cpu"] / max(listings, 1) * 1e6, 2),
            "missed": missed, "duplicated": duplicated, "unexpected": unexpected,
            "expected": expected, "quarantined": data["counts"]["rejects"],
            "retries": data["retries"], "complete_events": data["counts"]["complete_events"],
            "finish_reasons": data["reasons"],
        }
    out = dict(result["warm"])
    out.update({
        "workload": {"sandbox_events": opts.events, "listings_per_event": per_event,
                     "faults": opts.faults, "spiders": list(SPIDERS),
                     "passes": "cold (sandbox generates pages) then warm (measured)",
                     "gc": "engine.gc_tuning, as the crawl workers run"},
        "cold": result["cold"],
        "scrapy_bench_pages_per_s": baseline,
        "pages_per_s_vs_scrapy_bench": round(out["pages_per_s"] / baseline, 3)
        if baseline else None,
    })
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
