"""The engine's periodic work, run on its own cadences: ``MaintenanceLoop``.

Every tick the loop refreshes the hourly rollups, and when each task is due it forecasts
buy-or-wait, publishes fair prices (``engine.deals.valuation``), retrains the fair-price
model, creates time partitions ahead, applies retention and refreshes every user's
recommendations. The tasks live where their job is (``storage.rollups``,
``storage.partitions``, ``engine.deals.forecasting``, ``engine.deals.registry``,
``engine.recommend.job``); the loop runs them in a daemon
thread beside the engine. A task's failure is logged and counted, never fatal: the next
tick tries again.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.deals.forecasting import ForecastModel, compute_forecasts
from engine.deals.registry import retrain_if_due
from engine.deals.store import load_context, load_history
from engine.deals.valuation import publish_values
from engine.recommend.job import refresh_recommendations
from storage.db import connect
from storage.partitions import apply_retention, ensure_partitions_ahead
from storage.rollups import refresh_rollups

if TYPE_CHECKING:
    import pyarrow as pa

    from engine.deals.context import ScoringContext

logger = logging.getLogger(__name__)


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
    recommend_every: timedelta = timedelta(minutes=15)  # every user's picks
    retention_days: int = 400
    partitions_ahead_days: int = 7
    horizon_days: float = 7.0
    history_days: float = 30.0  # snapshot history the fair-price model retrains on
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

    TASKS = ("rollups", "forecasts", "fair_prices", "deal_model", "partitions", "retention",
             "recommendations")

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
                ("fair_prices", o.forecast_every, self._fair_prices),
                ("deal_model", o.retrain_every, self._deal_model),
                ("partitions", o.partitions_every, self._partitions),
                ("retention", o.retention_every, self._retention),
                ("recommendations", o.recommend_every, self._recommendations)]

    def _rollups(self, now: datetime) -> dict[str, Any]:
        since = self._rollups_since or now - self.options.rollup_lookback
        with connect(self.url) as conn:
            result = refresh_rollups(conn, since, now)
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

    def _fair_prices(self, now: datetime) -> dict[str, Any]:
        """Publish the latest fair-price model (when new) and every upcoming event's level,
        so the API can value any seat; no model yet is a skip."""
        o = self.options
        return publish_values(self.url, now + o.clock_offset, o.models_dir)

    def _deal_model(self, now: datetime) -> dict[str, Any]:
        """``retrain_if_due`` on the database's history; too little history is a skip, not
        an error (a new install has none)."""
        o = self.options

        def load() -> tuple[pa.Table, ScoringContext]:
            return load_history(self.url, days=o.history_days), load_context(self.url)

        try:
            model = retrain_if_due(load, o.retrain_every, o.models_dir, now)
        except ValueError as err:  # "cannot train ... on N priced listings"
            logger.info("deal model not retrained: %(err)s", {"err": err})
            return {"retrained": 0, "skipped": str(err)}
        return {"retrained": int(model is not None),
                "version": model.version if model is not None else None}

    def _partitions(self, now: datetime) -> dict[str, Any]:
        with connect(self.url) as conn:
            return {"created": ensure_partitions_ahead(conn, self.options.partitions_ahead_days,
                                                       now)}

    def _retention(self, now: datetime) -> dict[str, Any]:
        with connect(self.url) as conn:
            return apply_retention(conn, self.options.retention_days)

    def _recommendations(self, now: datetime) -> dict[str, Any]:
        return refresh_recommendations(self.url)

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
