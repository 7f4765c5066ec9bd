"""Settings owned by the layers that use them: one object per process serves every group,
nothing reads the environment at import, and the crawler gets its settings from the engine
(or, crawling on its own, from the environment when it starts)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.crawler import CrawlerRunner
from scrapy.utils.project import get_project_settings

from crawler.spiders import SPIDERS
from engine.crawl.settings import scrapy_settings
from engine.settings import get_settings, load_settings
from storage.settings import ConfigError, get_storage_settings

ROOT = Path(__file__).resolve().parents[1]


def _crawler_settings(**cmdline: object):
    base = get_project_settings()
    base.update(cmdline, priority="cmdline")
    return CrawlerRunner(base).create_crawler(SPIDERS["seatgeek"]).settings


def test_one_loaded_object_serves_every_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIPCITY_DB_POOL_SIZE", "5")
    get_settings.cache_clear()
    try:
        get_storage_settings()  # storage alone first, as an ingest writer may
        everything = get_settings()
        assert get_storage_settings() is everything  # then one object for every group
        monkeypatch.setenv("RIPCITY_DB_POOL_SIZE", "6")
        assert get_storage_settings().db_pool_size == 5  # cached until cleared
        get_storage_settings.cache_clear()
        assert get_settings().db_pool_size == 6
    finally:
        get_settings.cache_clear()


def test_importing_the_settings_modules_reads_no_environment() -> None:
    env = {**os.environ, "RIPCITY_EMBEDDED_PG_PORT": "abc", "RIPCITY_SEATGEEK_DAILY_BUDGET": "x"}
    code = ("import crawler.settings, crawler.config, crawler.addons, storage.settings, "
            "api.settings, engine.settings, engine.crawl.settings, api.app")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def test_a_standalone_crawl_reads_marketplaces_from_the_environment_at_start(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RIPCITY_SEATGEEK_BASE_URL", "http://seatgeek.test")
    monkeypatch.setenv("RIPCITY_SEATGEEK_DAILY_BUDGET", "77")
    monkeypatch.setenv("RIPCITY_LOG_LEVEL", "error")
    monkeypatch.setenv("RIPCITY_DATA_DIR", str(tmp_path))
    settings = _crawler_settings(SEATGEEK_CLIENT_ID="from-cmdline")
    assert settings["SEATGEEK_BASE_URL"] == "http://seatgeek.test"
    assert settings["SEATGEEK_CLIENT_ID"] == "from-cmdline"  # -s still wins
    assert settings.getdict("RIPCITY_DAILY_BUDGETS")["seatgeek"] == 77
    assert settings["LOG_LEVEL"] == "ERROR"
    assert settings["RIPCITY_DATA_DIR"] == str(tmp_path)
    monkeypatch.setenv("RIPCITY_SEATGEEK_DAILY_BUDGET", "lots")
    with pytest.raises(ConfigError, match="RIPCITY_SEATGEEK_DAILY_BUDGET='lots'"):
        _crawler_settings()


def test_the_engine_passes_the_crawler_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    engine_side = load_settings(RIPCITY_SEATGEEK_DAILY_BUDGET=12, RIPCITY_LOG_LEVEL="ERROR")
    monkeypatch.setenv("RIPCITY_SEATGEEK_DAILY_BUDGET", "lots")  # the crawler never reads it
    settings = _crawler_settings(**scrapy_settings(engine_side))
    assert settings["SEATGEEK_BASE_URL"] == "https://api.seatgeek.com"
    assert settings.getdict("RIPCITY_DAILY_BUDGETS")["seatgeek"] == 12
    assert settings["LOG_LEVEL"] == "ERROR"
    sandbox = _crawler_settings(**scrapy_settings(engine_side, {"seatgeek": "http://sb/sg"}))
    assert sandbox["SEATGEEK_BASE_URL"] == "http://sb/sg"
    assert sandbox["SEATGEEK_CLIENT_ID"] == "sandbox"
    assert sandbox.getdict("RIPCITY_DAILY_BUDGETS") == {}
    assert not sandbox.getbool("RIPCITY_RATE_LIMITS")
