"""Buy-or-wait forecasts end to end: the engine forecasts on its schedule (every forecast
kept), grades them once their horizon passed, and the API serves an event's forecast with
its probability and the public track record against the naive answers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from engine.deals.forecasting import compute_forecasts
from storage.rollups import refresh_rollups
from tests.test_maintenance import HOURS, NOW, _world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def forecasted(pg_server_url: str, db_template: str) -> Iterator[dict[str, Any]]:
    import httpx

    from api.app import create_app
    from bench.harness import with_database
    from tests.fixtures_api import ServerThread

    name = f"ripcity_test_track_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(db_template)))
    url = with_database(pg_server_url, name)
    try:
        with psycopg.connect(url) as conn:
            conn.execute("SELECT ripcity_ensure_partitions(%s, %s)",
                         (NOW - timedelta(hours=HOURS + 2), NOW + timedelta(days=8)))
            conn.commit()
        ids = _world(url)
        with psycopg.connect(url) as conn:
            refresh_rollups(conn, NOW - timedelta(hours=HOURS + 1), NOW)
        # the schedule, replayed: a forecast every 6 hours over the last 18 hours, each
        # seeing only the prices up to its own time; later runs grade the earlier ones
        results = [compute_forecasts(url, NOW - timedelta(hours=h), horizon_days=0.25)[1]
                   for h in range(18, -1, -6)]
        with ServerThread(create_app(db_url=url)) as base, \
                httpx.Client(base_url=base, timeout=30) as http:
            yield {"http": http, "ids": ids, "results": results, "url": url}
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def test_every_forecast_is_kept_and_graded_once_due(forecasted: dict[str, Any]) -> None:
    with psycopg.connect(forecasted["url"]) as conn:
        total, graded, outcomes = conn.execute(
            "SELECT count(*), count(graded_at), count(was_lower) FROM forecast_history"
        ).fetchone()
    runs = len(forecasted["results"])
    assert total == runs * len(forecasted["ids"])  # one per event per run, none replaced
    assert graded == outcomes == (runs - 1) * len(forecasted["ids"])  # the last is pending
    assert sum(r["graded"] for r in forecasted["results"]) == graded  # graded exactly once


def test_event_forecast_has_a_probability_and_a_saving(forecasted: dict[str, Any]) -> None:
    http, ids = forecasted["http"], forecasted["ids"]
    falling = http.get(f"/api/v1/events/{ids[0]}/forecast")
    assert falling.status_code == 200, falling.text
    f = falling.json()
    assert 0.0 <= f["probability_lower"] <= 1.0
    assert (f["advice"] == "wait") == (f["probability_lower"] >= 0.5)
    assert f["model_version"].startswith("bw-")
    assert f["reasons"] and "cheapest ticket" in f["reasons"][0]
    assert f["days_to_event"] is not None and f["days_to_event"] > 3
    if f["advice"] == "wait":
        assert f["wait_until_days_before"] is not None
        assert f["wait_until_days_before"] <= f["days_to_event"]
    missing = http.get("/api/v1/events/999999/forecast")
    assert missing.status_code == 404


def test_track_record_compares_with_the_naive_answers(forecasted: dict[str, Any]) -> None:
    r = forecasted["http"].get("/api/v1/forecasts/accuracy", params={"days": 30})
    assert r.status_code == 200, r.text
    body = r.json()
    overall = body["buckets"][0]
    assert overall["bucket"] == "all"
    assert overall["forecasts"] == (len(forecasted["results"]) - 1) * len(forecasted["ids"])
    for key in ("accuracy", "always_wait_accuracy", "always_buy_accuracy"):
        assert 0.0 <= overall[key] <= 1.0
    assert overall["always_wait_accuracy"] + overall["always_buy_accuracy"] == \
        pytest.approx(1.0)
    assert 0.0 <= overall["brier"] <= 1.0
    assert sum(b["forecasts"] for b in body["buckets"][1:]) == overall["forecasts"]
    assert sum(c["forecasts"] for c in body["calibration"]) == overall["forecasts"]
    assert body["pending"] == len(forecasted["ids"])
    paths = forecasted["http"].get("/schema/openapi.json").json()["paths"]
    assert "/api/v1/forecasts/accuracy" in paths
    assert "/api/v1/events/{event_id}/forecast" in paths
