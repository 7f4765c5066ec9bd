"""The engine's periodic work against a real database: rollups appear, a forecast row is
written (and shown by the event page), retention drops old partitions, ``deals train`` saves
a model version, and a failing task is counted without stopping the others."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from engine.deals.forecasting import compute_forecasts
from engine.maintenance import MaintenanceLoop, MaintenanceOptions
from storage.events import upsert_events
from storage.forecasts import latest_forecast
from storage.ingest import write_snapshots
from storage.partitions import apply_retention, ensure_partitions_ahead
from storage.records import EventRecord
from storage.rollups import refresh_rollups
from tests.fixtures_api import listing_batch

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
HOURS = 60


def _world(url: str, events: int = 4, listings: int = 12) -> list[int]:
    """Events a few days out with ``HOURS`` hours of prices: even events get cheaper over
    time, odd ones dearer (a pattern the forecaster can learn)."""
    recs = [EventRecord("seatgeek", f"SG{i}", f"Blazers vs. Team {i}",
                        NOW + timedelta(days=4 + i), venue_name="Moda Center",
                        venue_city="Portland", category="basketball")
            for i in range(events)]
    with psycopg.connect(url) as conn:
        ids = upsert_events(conn, recs)
        conn.commit()
        for h in range(HOURS, 0, -1):
            at = NOW - timedelta(hours=h)
            for i in range(events):
                trend = (-1 if i % 2 == 0 else 1) * (HOURS - h) * 40
                wobble = ((h * 7919 + i * 104729) % 13 - 6) * 25
                write_snapshots(conn, listing_batch(f"SG{i}", "seatgeek", listings,
                                                    price_shift=trend + wobble,
                                                    observed_at=at))
            conn.commit()
    return [ids[("seatgeek", f"SG{i}")] for i in range(events)]


@pytest.fixture(scope="module")
def world_url(pg_server_url: str, db_template: str) -> str:
    """One database with history for the whole module (building it is the slow part)."""
    import uuid

    from psycopg import sql

    from bench.harness import with_database

    name = f"ripcity_test_maint_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(db_template)))
    url = with_database(pg_server_url, name)
    try:
        with psycopg.connect(url) as conn:
            conn.execute("SELECT ripcity_ensure_partitions(%s, %s)",
                         (NOW - timedelta(hours=HOURS + 2), NOW + timedelta(days=8)))
            conn.commit()
        _world(url)
        yield url
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def _refresh(url: str, since: datetime) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return refresh_rollups(conn, since, NOW)


def _event_ids(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]


def test_rollups_appear_for_recently_ingested_events(world_url: str) -> None:
    result = _refresh(world_url, NOW - timedelta(hours=HOURS + 1))
    assert result["events"] == 4
    with psycopg.connect(world_url) as conn:
        hours = conn.execute(
            "SELECT event_id, count(DISTINCT bucket) FROM listing_rollups_hourly "
            "GROUP BY event_id").fetchall()
    assert len(hours) == 4
    assert all(n >= HOURS for _, n in hours)
    # nothing seen since now: nothing to refresh
    assert _refresh(world_url, NOW + timedelta(hours=2))["events"] == 0


def test_forecast_row_written_for_upcoming_events(world_url: str) -> None:
    _refresh(world_url, NOW - timedelta(hours=HOURS + 1))
    model, counts = compute_forecasts(world_url, NOW, horizon_days=0.5)
    assert counts["forecasts"] == 4
    assert model.model.classifier is not None  # enough labelled hours to learn from
    ids = _event_ids(world_url)
    with psycopg.connect(world_url) as conn:
        falling = latest_forecast(conn, ids[0])
        assert latest_forecast(conn, 10**12) is None
    assert falling is not None
    assert falling.model_version == model.version
    assert falling.advice in ("wait", "buy now")
    assert 0.5 <= falling.confidence <= 1.0
    assert falling.get_in_cents and falling.get_in_cents > 0
    assert falling.expected_change_pct is None or math.isfinite(falling.expected_change_pct)
    assert "cheapest ticket" in falling.reason
    # a second run replaces the row (latest per event), it does not add one
    compute_forecasts(world_url, NOW + timedelta(minutes=5), model)
    with psycopg.connect(world_url) as conn:
        n, newest = conn.execute(
            "SELECT count(*), max(computed_at) FROM event_forecasts").fetchone()
    assert n == 4 and newest == NOW + timedelta(minutes=5)


def test_event_page_shows_the_engine_forecast(world_url: str) -> None:
    import httpx

    from api.app import create_app
    from tests.fixtures_api import ServerThread

    _refresh(world_url, NOW - timedelta(hours=HOURS + 1))
    compute_forecasts(world_url, NOW, horizon_days=0.5)
    first, *_, last = _event_ids(world_url)
    with psycopg.connect(world_url) as conn:
        conn.execute("DELETE FROM event_forecasts WHERE event_id = %s", (last,))
        conn.commit()
    with ServerThread(create_app(db_url=world_url)) as base, \
            httpx.Client(base_url=base, timeout=20) as http:
        page = http.get(f"/events/{first}").text
        fallback = http.get(f"/events/{last}").text
    assert "Forecast by our price model" in page
    assert "rule of thumb" in fallback and "Forecast by our price model" not in fallback


def test_retention_drops_old_partitions(db_url: str) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    with psycopg.connect(db_url) as conn:
        upsert_events(conn, [EventRecord("seatgeek", "OLD", "Old game", old + timedelta(days=1))])
        conn.commit()
        write_snapshots(conn, listing_batch("OLD", "seatgeek", 3, observed_at=old))
        conn.commit()
        assert conn.execute("SELECT count(*) FROM listing_snapshots").fetchone()[0] == 3
    with psycopg.connect(db_url) as conn:
        assert ensure_partitions_ahead(conn, days_ahead=9) >= 1
    with psycopg.connect(db_url) as conn:
        result = apply_retention(conn, 30)
    assert result["partitions_dropped"] >= 1
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM listing_snapshots").fetchone()[0] == 0
        # partitions for the days ahead are still there
        ahead = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'listing_snapshots'::regclass"
        ).fetchone()[0]
    assert ahead >= 9


def test_loop_counts_a_failing_task_and_runs_the_rest(db_url: str, tmp_path: Path) -> None:
    loop = MaintenanceLoop(db_url, MaintenanceOptions(retention_days=30,
                                                      models_dir=tmp_path / "models"))
    with psycopg.connect(db_url) as conn:  # break the rollups table under the loop
        conn.execute("ALTER TABLE listing_rollups_hourly RENAME TO rollups_away")
        conn.commit()
    result = loop.run_once(force=True)
    assert "listing_rollups_hourly" in result["forecasts"]["error"]
    assert result["rollups"] == {"events": 0, "rows": 0}
    assert result["retention"]["partitions_dropped"] >= 0
    assert result["deal_model"]["retrained"] == 0  # an empty database: skipped, not failed
    assert "no fair-price model" in result["fair_prices"]["skipped"]  # nothing to publish
    status = loop.status()
    assert status["forecasts"]["errors"] == 1 and status["retention"]["errors"] == 0
    assert status["deal_model"]["errors"] == 0
    # not due yet: a second tick right away runs only the every-tick task
    again = loop.run_once(datetime.now(UTC) + timedelta(seconds=1))
    assert set(again) <= {"rollups"}
    loop.start()
    loop.stop()


@pytest.mark.slow
def test_deals_train_writes_a_model_version(world_url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from psycopg.conninfo import conninfo_to_dict
    from typer.testing import CliRunner

    from engine.cli import app
    from engine.deals.registry import list_versions
    from engine.settings import get_settings

    c = conninfo_to_dict(world_url)
    monkeypatch.setenv("RIPCITY_DATABASE_URL",
                       f"postgresql://{c.get('user', 'postgres')}@{c.get('host', '127.0.0.1')}"
                       f":{c.get('port', 5432)}/{c['dbname']}")
    monkeypatch.setenv("RIPCITY_DATA_DIR", str(tmp_path))  # never the checkout's .ripcity
    get_settings.cache_clear()
    try:
        models = tmp_path / "models"
        runner = CliRunner()
        result = runner.invoke(app, ["deals", "train", "--models-dir", str(models),
                                     "--horizon", "1"])
        assert result.exit_code == 0, result.output
        versions = list_versions(models)
        assert len(versions) == 1
        assert versions[0] in result.output
        assert "buy-or-wait backtest accuracy: n/a" not in result.output  # a real number
        assert "fair-price backtest: median error" in result.output
        status = runner.invoke(app, ["deals", "status", "--models-dir", str(models)])
        assert status.exit_code == 0, status.output
        assert versions[0] in status.output
        first = _event_ids(world_url)[0]
        fc = runner.invoke(app, ["deals", "forecast", str(first)])
        assert fc.exit_code == 0, fc.output
        assert "buy now" in fc.output or "wait" in fc.output
    finally:
        get_settings.cache_clear()  # the next test reads its own environment


def test_engine_starts_and_stops_the_loop(world_url: str, tmp_path: Path) -> None:
    """The engine's hook runs the loop in a thread beside the crawl (no Ray needed here)."""
    import threading
    import time

    from engine.orchestrator import Engine, EngineOptions

    engine = Engine(world_url, {}, EngineOptions(maintenance_tick_s=3600.0))
    loop = engine.start_maintenance(first_delay_s=0.0, models_dir=tmp_path / "models",
                                    retention_days=400)
    try:
        deadline = time.monotonic() + 120
        while loop.stats["retention"].runs == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert loop.stats["rollups"].runs == 1
        assert loop.status()["rollups"]["errors"] == 0
    finally:
        loop.stop()
    assert not any(t.name == "ripcity-maintenance" for t in threading.enumerate())
    assert Engine(world_url, {}, EngineOptions(maintenance_tick_s=0)).start_maintenance() is None
