"""Price-history signals, model versions on disk, and buy-or-wait: small, exact cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from bench.synthetic import world
from engine.deals import (
    ModelNotFoundError,
    ScoringContext,
    backtest,
    event_signals,
    fit,
    fit_buy_or_wait,
    get_in_series,
    list_versions,
    listing_signals,
    load_model,
    retrain_if_due,
    save_model,
    section_daily_lows,
    section_low_days,
)

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def _snapshots(rows: list[tuple[int, str, str, int]]) -> pa.Table:
    """(day, listing id, section, all-in cents) rows of one event on one marketplace."""
    return pa.table({
        "observed_at": pa.array([T0 + timedelta(days=d) for d, *_ in rows],
                                pa.timestamp("us", tz="UTC")),
        "marketplace": ["seatgeek"] * len(rows),
        "listing_id": [lid for _, lid, _, _ in rows],
        "source_event_id": ["e1"] * len(rows),
        "section": [sec for *_, sec, _ in rows],
        "total_cents": pa.array([c for *_, c in rows], pa.int64()),
    })


def test_listing_drops_windows_and_all_time_lows():
    snaps = _snapshots([(0, "a", "101", 10000), (3, "a", "101", 12000), (8, "a", "101", 9000),
                        (0, "b", "101", 5000), (8, "b", "101", 5500)])
    sig = {r["key"]: r for r in listing_signals(snaps).to_pylist()}
    a, b = sig["seatgeek:a"], sig["seatgeek:b"]
    assert (a["last_cents"], a["previous_cents"], a["drop_cents"]) == (9000, 12000, 3000)
    assert a["drop_pct"] == pytest.approx(25.0)
    assert a["is_all_time_low"] and a["near_all_time_low"] and a["all_time_low_cents"] == 9000
    assert a["change_7d_pct"] == pytest.approx(-10.0)  # vs 10000, in force on day 1
    assert b["drop_cents"] == 0 and not b["is_all_time_low"] and b["all_time_low_cents"] == 5000
    assert b["change_1d_pct"] == pytest.approx(10.0)


def test_event_get_in_price_signals():
    snaps = _snapshots([(0, "a", "101", 10000), (0, "b", "101", 8000), (2, "a", "101", 7000)])
    series = get_in_series(snaps)
    assert series["get_in_cents"].to_pylist() == [8000, 7000]
    (ev,) = event_signals(snaps).to_pylist()
    assert ev["key"] == "seatgeek:e1" and ev["drop_cents"] == 1000 and ev["is_all_time_low"]


def test_section_low_days_counts_days_since_a_cheaper_price():
    lows = section_daily_lows(_snapshots([(0, "a", "101", 6000), (5, "b", "101", 9000),
                                          (8, "c", "101", 9500), (8, "d", "200", 100)]))
    keys = pa.array(["seatgeek:e1"] * 3)
    days = section_low_days(lows, keys, pa.array(["101", "101", "101"]),
                            np.array([8000, 5000, 9200]),
                            today=T0 + timedelta(days=10))
    # 8000: last at or below on day 0 -> 9 full days; 5000: never in the 10-day history;
    # 9200: day 5 had 9000 -> 4 days
    assert days.tolist() == [9.0, 10.0, 4.0]


def test_model_versions_round_trip_and_schedule(tmp_path):
    hist, events = world(5, events=6, listings_per_event=60, snapshots=2)
    ctx = ScoringContext.build(events)
    with pytest.raises(ModelNotFoundError, match="train one first"):
        load_model(directory=tmp_path)
    model = fit(hist, ctx)
    version = save_model(model, tmp_path)
    assert version.startswith("fp-") and list_versions(tmp_path) == [version]
    loaded = load_model(directory=tmp_path)
    assert loaded.version == version
    np.testing.assert_allclose(loaded.predict(hist, ctx), model.predict(hist, ctx))
    assert retrain_if_due(lambda: (hist, ctx), directory=tmp_path) is None  # fresh: not due
    later = datetime.now(UTC) + timedelta(days=1)
    assert retrain_if_due(lambda: (hist, ctx), directory=tmp_path, now=later) is not None
    with pytest.raises(ModelNotFoundError, match="not found"):
        load_model("fp-nope", tmp_path)


def test_buy_or_wait_advice_and_backtest_figures():
    hist, events = world(4, events=30, listings_per_event=40, snapshots=8,
                         step=timedelta(days=2))
    ctx = ScoringContext.build(events)
    series = get_in_series(hist)
    result = backtest(series, ctx, horizon_days=4)
    assert 0.0 <= result["backtest_accuracy"] <= 1.0 and result["samples"] > 50
    advice = fit_buy_or_wait(series, ctx, horizon_days=4).advise(series, ctx).to_pylist()
    assert len(advice) == 30
    assert all(a["advice"] in ("wait", "buy now") and 0.5 <= a["confidence"] <= 1
               for a in advice)
