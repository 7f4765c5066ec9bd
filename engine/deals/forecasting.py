"""Buy-or-wait forecasts: train the model on every event's hourly get-in prices, forecast
the upcoming events, store the rows the API shows (``storage.forecasts``).

The model itself is ``engine.deals.buy_or_wait``; this module turns it into stored forecasts
with a versioned model and a reason a person can read. ``compute_forecasts`` is what the
maintenance loop runs on its cadence and ``ripcity deals forecast`` runs for one event.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.deals.buy_or_wait import fit_buy_or_wait
from engine.deals.store import load_context
from storage.db import connect
from storage.forecasts import Forecast, write_forecasts
from storage.rollups import get_in_series, upcoming_event_keys
from storage.track_record import grade_forecasts

if TYPE_CHECKING:
    from engine.deals.buy_or_wait import BuyOrWaitModel
    from engine.deals.context import ScoringContext


@dataclasses.dataclass(slots=True)
class ForecastModel:
    """A trained buy-or-wait model with the version id stored beside its forecasts."""

    model: BuyOrWaitModel
    version: str
    trained_at: datetime


def train_forecaster(series: pa.Table, context: ScoringContext | None,
                     horizon_days: float = 7.0, now: datetime | None = None) -> ForecastModel:
    """Fit the buy-or-wait model on every event's get-in series (past events included)."""
    now = now or datetime.now(UTC)
    model = fit_buy_or_wait(series, context, horizon_days)
    digest = hashlib.sha256(f"{model.samples}:{model.events}:{model.base_rate:.6f}".encode())
    version = f"bw-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest.hexdigest()[:8]}"
    return ForecastModel(model, version, now)


def _reason(advice: str, direction: str, confidence: float, change_pct: float | None,
            get_in: int, horizon: float, fm: ForecastModel, learned: bool) -> str:
    price = f"${get_in / 100:,.2f}"
    outcome = "it will be lower" if direction == "down" else "it will not get cheaper"
    if fm.model.samples == 0:
        return (f"The cheapest ticket is {price}. No event has a long enough price history "
                f"yet to learn what happens over {horizon:g} days, so this is close to a "
                f"coin flip: {advice}.")
    if learned:
        basis = (f"Our model, trained on {fm.model.samples:,} hourly prices of "
                 f"{fm.model.events:,} events, gives a {confidence:.0%} chance that")
    else:
        basis = (f"With little history yet, the share of past prices that went "
                 f"{'down' if direction == 'down' else 'up or stayed flat'} "
                 f"({confidence:.0%}) says that")
    typical = "" if change_pct is None else f" (typical change {change_pct:+.0f}%)"
    return f"The cheapest ticket is {price}. {basis} {outcome} within {horizon:g} days" \
        f"{typical}, so: {advice}."


def forecast_rows(fm: ForecastModel, series: pa.Table, context: ScoringContext | None,
                  event_keys: list[str], now: datetime, min_points: int = 6,
                  as_of: datetime | None = None) -> list[Forecast]:
    """Forecasts for ``event_keys`` that have at least ``min_points`` hourly prices."""
    counts = series.group_by("event_key").aggregate([("get_in_cents", "count")])
    enough = {k for k, n in zip(counts["event_key"].to_pylist(),
                                counts["get_in_cents_count"].to_pylist(), strict=True)
              if n >= min_points}
    keys = sorted(enough & set(event_keys))
    if not keys:
        return []
    subset = series.filter(pc.is_in(series["event_key"], value_set=pa.array(keys, pa.string())))
    adv = fm.model.advise(subset, context)
    learned = fm.model.classifier is not None
    out = []
    for r in adv.to_pylist():
        change = r["expected_change_pct"]
        change = None if change is None or not np.isfinite(change) else float(change)
        out.append(Forecast(
            event_id=int(r["event_key"]), computed_at=now, direction=r["direction"],
            advice=r["advice"], confidence=float(r["confidence"]), expected_change_pct=change,
            horizon_days=float(r["horizon_days"]), get_in_cents=int(r["get_in_cents"]),
            model_version=fm.version,
            reason=_reason(r["advice"], r["direction"], float(r["confidence"]), change,
                           int(r["get_in_cents"]), float(r["horizon_days"]), fm, learned),
            as_of=as_of or now))
    return out


def compute_forecasts(database_url: str, now: datetime | None = None,
                      model: ForecastModel | None = None, *, history_days: float = 30.0,
                      horizon_days: float = 7.0, min_points: int = 6,
                      clock_offset: timedelta = timedelta(0),
                      event_ids: list[int] | None = None) -> tuple[ForecastModel, dict[str, int]]:
    """Forecast every upcoming event with ``min_points`` hourly prices and store the rows;
    trains the buy-or-wait model first unless ``model`` is given. Returns the model (for
    reuse) and counts. ``clock_offset``: the marketplaces' clock minus ours (the sandbox)."""
    now = now or datetime.now(UTC)
    with connect(database_url) as conn:
        series = get_in_series(conn, now + clock_offset - timedelta(days=history_days),
                               now + clock_offset)
    context = load_context(database_url)
    if model is None:
        model = train_forecaster(series, context, horizon_days, now)
    with connect(database_url) as conn:
        upcoming = upcoming_event_keys(conn, now + clock_offset)
        if event_ids is not None:
            wanted = {str(e) for e in event_ids}
            upcoming = [k for k in upcoming if k in wanted]
        rows = forecast_rows(model, series, context, upcoming, now, min_points,
                             as_of=now + clock_offset)
        write_forecasts(conn, rows)
        graded = grade_forecasts(conn, now + clock_offset)
        conn.commit()
    return model, {"forecasts": len(rows), "upcoming": len(upcoming),
                   "samples": model.model.samples, "graded": graded}
