"""The spiders against the sandbox over real HTTP, each crawl in its own process
(``python -m crawler.run_once``), compared with the sandbox's truth."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.crawl import compare, expected_listings, sandbox_env
from bench.harness import truth_events

ROOT = Path(__file__).resolve().parent.parent
FAST = ["-s", "RIPCITY_RATE_LIMITS=0", "-s", "LOG_LEVEL=WARNING"]


def crawl(sandbox: Any, spider: str, out: Path, *args: str, settings: tuple[str, ...] = (),
          check: bool = True) -> tuple[dict[str, Any], pa.Table, subprocess.CompletedProcess]:
    env = {**os.environ, **sandbox_env(sandbox.urls), "RIPCITY_DATA_DIR": str(out / "data")}
    cmd = [sys.executable, "-m", "crawler.run_once", spider, str(out), *FAST]
    for arg in args:
        cmd += ["-a", arg]
    for setting in settings:
        cmd += ["-s", setting]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    return summary, pq.read_table(out / "listings.parquet"), proc


@pytest.fixture(scope="module")
def truth(sandbox: Any) -> list[dict[str, Any]]:
    return truth_events(sandbox.base_url)


@pytest.mark.parametrize("spider", ["seatgeek", "ticketmaster", "stubhub", "eventbrite"])
def test_spider_collects_every_listing_exactly_once(sandbox: Any, truth: list[dict[str, Any]],
                                                    spider: str, tmp_path: Path) -> None:
    summary, table, _ = crawl(sandbox, spider, tmp_path, "city=Portland")
    good, bad = expected_listings(truth, spider)
    diff = compare(table, spider, good)
    assert diff == {"missed": 0, "duplicated": 0, "unexpected": 0, "expected": diff["expected"]}
    assert diff["expected"] > 0
    # every event of this marketplace was found, and its listing set reported complete
    assert {e["source_event_id"] for e in summary["events"]} == set(good)
    assert sorted(summary["complete_events"]) == sorted(good)
    assert summary["stats"]["ripcity/listings"] == table.num_rows
    assert summary["stats"]["ripcity/pages"] == summary["items"]
    assert not any(bad.values())  # this sandbox has no malformed listings
    assert table.schema.names[:4] == ["observed_at", "marketplace", "listing_id",
                                      "source_event_id"]
    assert pa.compute.min(table["total_cents"]).as_py() > 0


def test_event_ids_crawl_exactly_those_events(sandbox: Any, truth: list[dict[str, Any]],
                                              tmp_path: Path) -> None:
    good, _ = expected_listings(truth, "seatgeek")
    chosen = sorted(good)[:2]
    summary, table, _ = crawl(sandbox, "seatgeek", tmp_path, f"event_ids={','.join(chosen)}",
                              "shard=sg-7", settings=("RIPCITY_PAGE_SIZES={\"seatgeek\": 7}",))
    assert set(table["source_event_id"].to_pylist()) == set(chosen)
    diff = compare(table, "seatgeek", {e: good[e] for e in chosen})
    assert diff["missed"] == diff["duplicated"] == diff["unexpected"] == 0
    assert sorted(summary["complete_events"]) == chosen
    assert summary["shards"] == ["sg-7"]
    assert {e["source_event_id"] for e in summary["events"]} == set(chosen)
    assert summary["stats"]["ripcity/pages/listings"] > 2  # 7 per page: many pages each


def test_discover_only_and_max_pages(sandbox: Any, tmp_path: Path) -> None:
    summary, table, _ = crawl(sandbox, "ticketmaster", tmp_path / "a", "discover_only=1")
    assert table.num_rows == 0 and summary["events"] and not summary["complete_events"]
    summary, table, _ = crawl(sandbox, "stubhub", tmp_path / "b", "max_pages=1",
                              settings=("RIPCITY_PAGE_SIZES={\"stubhub\": 5}",))
    # one page of 5 per event: the listing sets are not complete, so nothing may be marked gone
    assert summary["complete_events"] == []
    assert table.num_rows <= 5 * len(summary["events"])


def test_bad_credentials_stop_cleanly(sandbox: Any, tmp_path: Path) -> None:
    for spider, setting in (("seatgeek", "SEATGEEK_CLIENT_ID"),
                            ("ticketmaster", "TICKETMASTER_API_KEY"),
                            ("eventbrite", "EVENTBRITE_TOKEN")):
        summary, table, proc = crawl(sandbox, spider, tmp_path / spider, check=False,
                                     settings=(f"{setting}=wrong-key",))
        assert proc.returncode == 3
        assert summary["reason"] == "bad_credentials"
        assert table.num_rows == 0
        assert summary["stats"]["downloader/request_count"] <= 2  # no retry storm
        assert proc.stderr.count(f"Set RIPCITY_{setting}") == 1
        assert "wrong-key" not in proc.stderr  # the key is not logged


@pytest.mark.slow
def test_heavy_faults_lose_nothing_and_quarantine_malformed(make_sandbox: Any,
                                                            tmp_path: Path) -> None:
    box = make_sandbox(faults="heavy", events=8, listings_per_event=150)
    truth = truth_events(box.base_url)
    for spider in ("seatgeek", "ticketmaster", "stubhub"):
        summary, table, _ = crawl(box, spider, tmp_path / spider,
                                  settings=("RIPCITY_RETRY_BASE_DELAY=0.05",))
        good, bad = expected_listings(truth, spider)
        diff = compare(table, spider, good)
        assert diff["missed"] == diff["duplicated"] == diff["unexpected"] == 0, (spider, diff)
        malformed = sum(len(v) for v in bad.values())
        assert malformed > 0
        assert len(summary["rejects"]) == malformed, spider
        assert summary["stats"]["ripcity/quarantined"] == malformed
        assert summary["stats"]["ripcity/retries"] > 0
        assert sorted(summary["complete_events"]) == sorted(good)


@pytest.mark.slow
@pytest.mark.browser
def test_stubhub_pages_render_in_chromium(sandbox: Any, truth: list[dict[str, Any]],
                                          tmp_path: Path) -> None:
    if not Path("/usr/bin/chromium").exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed")
    good, _ = expected_listings(truth, "stubhub")
    chosen = sorted(good)[:3]
    summary, table, _ = crawl(sandbox, "stubhub_web", tmp_path,
                              f"event_ids={','.join(chosen)}")
    diff = compare(table, "stubhub", {e: good[e] for e in chosen})
    assert diff["missed"] == diff["duplicated"] == diff["unexpected"] == 0
    assert sorted(summary["complete_events"]) == chosen
    assert summary["stats"]["ripcity/pages/event_page"] == len(chosen)
    # the page shows all-in prices only
    assert table["price_cents"].null_count == table.num_rows
    assert pa.compute.min(table["total_cents"]).as_py() > 0


def test_scrapy_crawl_command_writes_parquet(sandbox: Any, tmp_path: Path) -> None:
    env = {**os.environ, **sandbox_env(sandbox.urls), "RIPCITY_DATA_DIR": str(tmp_path)}
    listed = subprocess.run([sys.executable, "-m", "scrapy", "list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True)
    assert listed.stdout.split() == ["eventbrite", "seatgeek", "stubhub", "stubhub_web",
                                     "ticketmaster"]
    proc = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "seatgeek", "-a",
                           "city=portland", "-s", "RIPCITY_RATE_LIMITS=0"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    [parquet] = (tmp_path / "crawl").glob("seatgeek-*[0-9]Z.parquet")
    assert pq.read_table(parquet).num_rows > 0
    assert str(parquet) in proc.stderr  # the log says where the listings went


def test_spiders_crawl_repeatedly_in_one_process(sandbox: Any) -> None:
    """The engine runs spiders many times on one reactor (CrawlerRunner)."""
    script = """
import sys
from scrapy import signals
from scrapy.crawler import CrawlerRunner
from scrapy.utils.project import get_project_settings
from scrapy.utils.reactor import install_reactor
settings = get_project_settings()
settings.set("RIPCITY_RATE_LIMITS", False); settings.set("RIPCITY_PARQUET_EXPORT", False)
settings.set("LOG_LEVEL", "WARNING")
install_reactor(settings["TWISTED_REACTOR"])
from twisted.internet import defer, reactor
from crawler.spiders import SPIDERS
runner = CrawlerRunner(settings)
rows = []
@defer.inlineCallbacks
def go():
    for name in ["seatgeek", "seatgeek", "ticketmaster", "seatgeek"]:
        crawler = runner.create_crawler(SPIDERS[name])
        count = []
        def scraped(item, **_):
            count.append(item.listings.num_rows)
        # signal receivers are held weakly: keep a reference while the crawl runs
        crawler.signals.connect(scraped, signal=signals.item_scraped)
        yield runner.crawl(crawler, city="Portland")
        rows.append(sum(count))
    reactor.stop()
reactor.callWhenRunning(go)
reactor.run()
print(rows)
"""
    env = {**os.environ, **sandbox_env(sandbox.urls)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rows[0] == rows[1] == rows[3] > 0 and rows[2] > 0


@pytest.mark.slow
def test_ticketmaster_reaches_events_beyond_the_paging_depth(make_sandbox: Any,
                                                             tmp_path: Path) -> None:
    """Discovery refuses page * size >= 1000; the spider continues by start time instead."""
    box = make_sandbox(events=2000, listings_per_event=1)
    wanted = {e["ids"]["ticketmaster"] for e in box.truth()["events"] if "ticketmaster" in
              e["ids"]}
    assert len(wanted) > 1000
    summary, _, _ = crawl(box, "ticketmaster", tmp_path, "discover_only=1")
    found = [e["source_event_id"] for e in summary["events"]]
    assert len(found) == len(set(found)) == len(wanted) and set(found) == wanted
