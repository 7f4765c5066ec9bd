"""The engine's periodic work: rollups, buy-or-wait forecasts, retraining, partitions, retention.

Each task is a plain function of a database URL (testable on its own, callable from the CLI);
``MaintenanceLoop`` runs them on their own cadences in a daemon thread beside the engine.
A task's failure is logged and counted, never fatal: the next tick tries again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from engine.deals.context import ScoringContext
    from engine.deals.forecast import BuyOrWaitModel
    from storage.forecasts import Forecast

logger = logging.getLogger(__name__)

_HOUR = timedelta(hours=1)


# --- rollups ------------------------------------------------------------------------------
_TOUCHED = """
SELECT event_id, max(at) FROM (
    SELECT event_id, greatest(last_seen, gone_at) AS at FROM listings_current
    WHERE last_seen >= %(since)s OR last_changed >= %(since)s OR gone_at >= %(since)s
    UNION ALL  -- complete crawls that found their listings unchanged
    SELECT es.event_id, s.complete_at FROM source_event_crawls s
    JOIN event_sources es USING (marketplace, source_event_id)
    WHERE s.complete_at >= %(since)s
) t GROUP BY event_id ORDER BY event_id
"""


def refresh_rollups(database_url: str, since: datetime, now: datetime | None = None,
                    event_ids: list[int] | None = None) -> dict[str, int]:
    """Recompute ``listing_rollups_hourly`` from an hour before ``since`` for every event
    whose listings were seen, changed or went away since then (or for ``event_ids``).

    The hour of slack covers batches stamped before they were committed."""
    import psycopg

    from storage.queries import refresh_hourly_rollups

    now = now or datetime.now(UTC)
    rows = 0
    with psycopg.connect(database_url) as conn:
        if event_ids is None:
            touched = conn.execute(_TOUCHED, {"since": since}).fetchall()
        else:
            touched = conn.execute(
                "SELECT e.id, max(listing_last_seen(c)) FROM events e LEFT JOIN listings_current c "
                "ON c.event_id = e.id WHERE e.id = ANY(%s) GROUP BY e.id",
                (event_ids,)).fetchall()
        for event_id, last in touched:
            until = max(now, last or now) + _HOUR
            rows += refresh_hourly_rollups(conn, event_id, since - _HOUR, until)
            conn.commit()  # one event at a time: short transactions beside the writers
    return {"events": len(touched), "rows": rows}


# --- forecasts ----------------------------------------------------------------------------
_SERIES = """
SELECT event_id::text, bucket, min(min_total_cents), sum(listing_count)::bigint
FROM listing_rollups_hourly
WHERE bucket >= %s
GROUP BY event_id, bucket
ORDER BY event_id, bucket
"""
_UPCOMING = "SELECT id::text FROM events WHERE starts_at > %s"


@dataclasses.dataclass(slots=True)
class ForecastModel:
    """A trained buy-or-wait model with the version id stored beside its forecasts."""

    model: BuyOrWaitModel
    version: str
    trained_at: datetime


def load_get_in_series(database_url: str, since: datetime) -> pa.Table:
    """Per event and hour: the cheapest all-in price and live listings, from the rollups
    (``event_key``, ``observed_at``, ``get_in_cents``, ``listings``)."""
    import psycopg
    import pyarrow as pa

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(_SERIES, (since,)).fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    return pa.table({
        "event_key": pa.array(list(cols[0]), pa.string()),
        "observed_at": pa.array(list(cols[1]), pa.timestamp("us", tz="UTC")),
        "get_in_cents": pa.array(list(cols[2]), pa.int64()),
        "listings": pa.array(list(cols[3]), pa.int64()),
    })


def train_forecaster(series: pa.Table, context: ScoringContext | None,
                     horizon_days: float = 7.0, now: datetime | None = None) -> ForecastModel:
    """Fit the buy-or-wait model on every event's get-in series (past events included)."""
    from engine.deals.forecast import fit_buy_or_wait

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
                  event_keys: list[str], now: datetime, min_points: int = 6
                  ) -> list[Forecast]:
    """Forecasts for ``event_keys`` that have at least ``min_points`` hourly prices."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from storage.forecasts import Forecast

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
                           int(r["get_in_cents"]), float(r["horizon_days"]), fm, learned)))
    return out


def compute_forecasts(database_url: str, now: datetime | None = None,
                      model: ForecastModel | None = None, *, history_days: float = 30.0,
                      horizon_days: float = 7.0, min_points: int = 6,
                      clock_offset: timedelta = timedelta(0),
                      event_ids: list[int] | None = None) -> tuple[ForecastModel, dict[str, int]]:
    """Forecast every upcoming event with ``min_points`` hourly prices and store the rows;
    trains the buy-or-wait model first unless ``model`` is given. Returns the model (for
    reuse) and counts. ``clock_offset``: the marketplaces' clock minus ours (the sandbox)."""
    import psycopg

    from engine.deals.store import load_context
    from storage.forecasts import write_forecasts

    now = now or datetime.now(UTC)
    series = load_get_in_series(database_url, now + clock_offset - timedelta(days=history_days))
    context = load_context(database_url)
    if model is None:
        model = train_forecaster(series, context, horizon_days, now)
    with psycopg.connect(database_url) as conn:
        upcoming = [r[0] for r in conn.execute(_UPCOMING, (now + clock_offset,))]
        if event_ids is not None:
            wanted = {str(e) for e in event_ids}
            upcoming = [k for k in upcoming if k in wanted]
        rows = forecast_rows(model, series, context, upcoming, now, min_points)
        write_forecasts(conn, rows)
        conn.commit()
    return model, {"forecasts": len(rows), "upcoming": len(upcoming),
                   "samples": model.model.samples}


# --- deal model, partitions, retention ----------------------------------------------------
def retrain_deal_model(database_url: str, every: timedelta = timedelta(hours=6),
                       directory: Path | str | None = None, now: datetime | None = None,
                       history_days: float = 30.0) -> dict[str, Any]:
    """``retrain_if_due`` on the database's history; too little history is a skip, not an
    error (a new install has none)."""
    from engine.deals.registry import retrain_if_due
    from engine.deals.store import load_context, load_history

    def load() -> tuple[pa.Table, ScoringContext]:
        return load_history(database_url, days=history_days), load_context(database_url)

    try:
        model = retrain_if_due(load, every, directory, now)
    except ValueError as err:  # "cannot train ... on N priced listings"
        logger.info("deal model not retrained: %(err)s", {"err": err})
        return {"retrained": 0, "skipped": str(err)}
    return {"retrained": int(model is not None),
            "version": model.version if model is not None else None}


def ensure_partitions_ahead(database_url: str, days_ahead: int = 7,
                            now: datetime | None = None) -> dict[str, int]:
    """Native partitions from yesterday to ``days_ahead`` days out (no-op on TimescaleDB)."""
    import psycopg

    from storage.partitions import ensure_partitions

    now = now or datetime.now(UTC)
    with psycopg.connect(database_url) as conn:
        created = ensure_partitions(conn, now - timedelta(days=1),
                                    now + timedelta(days=days_ahead))
        conn.commit()
    return {"created": created}


def apply_retention_now(database_url: str, days: int) -> dict[str, int]:
    """Drop time partitions / chunks and quarantine rows older than ``days``."""
    import psycopg

    from storage.partitions import apply_retention

    with psycopg.connect(database_url) as conn:
        result = apply_retention(conn, days)
        conn.commit()
    return result


# --- the loop -----------------------------------------------------------------------------
@dataclasses.dataclass(slots=True)
class MaintenanceOptions:
    """Cadences and limits; defaults suit a long ``ripcity run``."""

    tick_s: float = 300.0  # how often due tasks are checked (and rollups refreshed)
    first_delay_s: float | None = None  # before the first tick; None = tick_s
    rollup_lookback: timedelta = timedelta(days=2)  # first run: how far back to refresh
    forecast_every: timedelta = timedelta(minutes=30)
    forecaster_every: timedelta = timedelta(hours=1)  # retrain the buy-or-wait model
    retrain_every: timedelta = timedelta(hours=6)  # the fair-price (deal) model
    partitions_every: timedelta = timedelta(hours=6)
    retention_every: timedelta = timedelta(days=1)
    retention_days: int = 400
    partitions_ahead_days: int = 7
    horizon_days: float = 7.0
    models_dir: Path | str | None = None
    clock_offset: timedelta = timedelta(0)


@dataclasses.dataclass(slots=True)
class TaskStats:
    runs: int = 0
    errors: int = 0
    last_run: datetime | None = None
    last_result: dict[str, Any] | None = None
    last_error: str | None = None


class MaintenanceLoop:
    """Runs the periodic tasks; ``run_once`` is the whole of one tick (tests call it)."""

    TASKS = ("rollups", "forecasts", "deal_model", "partitions", "retention")

    def __init__(self, database_url: str, options: MaintenanceOptions | None = None) -> None:
        self.url = database_url
        self.options = options or MaintenanceOptions()
        self.stats = {name: TaskStats() for name in self.TASKS}
        self._rollups_since: datetime | None = None
        self._forecaster: ForecastModel | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # each task: (name, cadence, function of now)
    def _tasks(self) -> list[tuple[str, timedelta, Callable[[datetime], dict[str, Any]]]]:
        o = self.options
        tick = timedelta(seconds=o.tick_s)
        return [("rollups", tick, self._rollups),
                ("forecasts", o.forecast_every, self._forecasts),
                ("deal_model", o.retrain_every, self._deal_model),
                ("partitions", o.partitions_every, self._partitions),
                ("retention", o.retention_every, self._retention)]

    def _rollups(self, now: datetime) -> dict[str, Any]:
        since = self._rollups_since or now - self.options.rollup_lookback
        result = refresh_rollups(self.url, since, now)
        self._rollups_since = now
        return result

    def _forecasts(self, now: datetime) -> dict[str, Any]:
        o = self.options
        model = self._forecaster
        if model is not None and now - model.trained_at >= o.forecaster_every:
            model = None
        self._forecaster, result = compute_forecasts(
            self.url, now, model, horizon_days=o.horizon_days, clock_offset=o.clock_offset)
        result["model_version"] = self._forecaster.version
        return result

    def _deal_model(self, now: datetime) -> dict[str, Any]:
        return retrain_deal_model(self.url, self.options.retrain_every,
                                  self.options.models_dir, now)

    def _partitions(self, now: datetime) -> dict[str, Any]:
        return ensure_partitions_ahead(self.url, self.options.partitions_ahead_days, now)

    def _retention(self, now: datetime) -> dict[str, Any]:
        return apply_retention_now(self.url, self.options.retention_days)

    def run_once(self, now: datetime | None = None, force: bool = False) -> dict[str, Any]:
        """Run every due task (all of them with ``force``); returns each one's result or
        error. Never raises for a task's failure."""
        now = now or datetime.now(UTC)
        out: dict[str, Any] = {}
        with self._lock:
            for name, every, fn in self._tasks():
                st = self.stats[name]
                if not force and st.last_run is not None and now - st.last_run < every:
                    continue
                if self._stop.is_set() and not force:
                    break
                st.runs += 1
                st.last_run = now
                t0 = time.monotonic()
                try:
                    st.last_result = fn(now)
                    st.last_error = None
                    out[name] = st.last_result
                    logger.info("maintenance %(task)s: %(result)s (%(s).1fs)",
                                {"task": name, "result": st.last_result,
                                 "s": time.monotonic() - t0})
                except Exception as err:  # counted and retried next tick, never fatal
                    st.errors += 1
                    st.last_error = f"{type(err).__name__}: {err}"
                    out[name] = {"error": st.last_error}
                    logger.exception("maintenance task %(task)s failed (retrying at the next "
                                     "tick)", {"task": name})
        return out

    def status(self) -> dict[str, Any]:
        """Per task: runs, errors, last result / error (what ``Engine.status`` reports)."""
        return {name: {"runs": s.runs, "errors": s.errors,
                       "last_run": s.last_run.isoformat() if s.last_run else None,
                       "last_result": s.last_result, "last_error": s.last_error}
                for name, s in self.stats.items()}

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.stats.values())

    def _run(self) -> None:
        o = self.options
        delay = o.tick_s if o.first_delay_s is None else o.first_delay_s
        while not self._stop.wait(delay):
            self.run_once()
            delay = o.tick_s

    def start(self) -> MaintenanceLoop:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="ripcity-maintenance",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the task in progress (if any) finishes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("maintenance still busy after %(t).0fs; leaving it (daemon "
                               "thread)", {"t": timeout})
            self._thread = None
