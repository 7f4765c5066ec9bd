"""An event's buy-or-wait forecast, and the public track record of every forecast."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from api.forecasts.schemas import (
    BucketAccuracy,
    CalibrationPoint,
    DailyAccuracy,
    EventForecast,
    ForecastAccuracy,
)
from api.lib.deps import RuntimeDep
from api.lib.errors import NotFound
from api.lib.params import EventId
from storage.events import require_event
from storage.forecasts import ForecastDetail, forecast_detail_async
from storage.track_record import track_record


def event_forecast(d: ForecastDetail) -> EventForecast:
    f = d.forecast
    saving = None
    if f.expected_change_pct is not None and f.get_in_cents and f.expected_change_pct < 0:
        saving = round(-f.expected_change_pct / 100.0 * f.get_in_cents)
    wait_until = None
    if f.advice == "wait" and d.days_to_event is not None:
        wait_until = round(max(d.days_to_event - f.horizon_days, 0.0), 1)
    reasons = [f.reason]
    if d.days_to_event is not None:
        reasons.append(f"{d.days_to_event:.0f} days to the event when forecast")
    return EventForecast(
        event_id=f.event_id, advice=f.advice, probability_lower=round(d.probability_lower, 4),
        horizon_days=f.horizon_days, get_in_cents=f.get_in_cents,
        expected_change_pct=f.expected_change_pct, expected_saving_cents=saving,
        wait_until_days_before=wait_until, days_to_event=d.days_to_event, reasons=reasons,
        model_version=f.model_version, computed_at=f.computed_at)


class ForecastController(Controller):
    tags = ["forecasts"]

    @get("/events/{event_id:int}/forecast", summary="Buy now or wait, with a probability")
    async def forecast(self, runtime: RuntimeDep, event_id: EventId) -> EventForecast:
        """The model's latest forecast for the event's get-in price: the probability it is
        lower within the horizon, the advice, the expected saving and the latest day to
        buy when waiting, the reasons and the model version."""
        async with runtime.pool.connection() as conn:
            await require_event(conn, event_id)
            d = await forecast_detail_async(conn, event_id)
        if d is None:
            raise NotFound(f"no forecast for event {event_id} yet: forecasts need a few "
                           "hours of price history and are refreshed every 30 minutes")
        return event_forecast(d)

    @get("/forecasts/accuracy", summary="The public track record of buy-or-wait forecasts")
    async def accuracy(
        self, runtime: RuntimeDep,
        days: Annotated[int, Parameter(ge=1, le=3650,
                                       description="forecasts made in the last N days")] = 90,
    ) -> ForecastAccuracy:
        """Every forecast is graded once its horizon passed: accuracy, Brier score and
        realised saving against the naive answers ("prices always fall", "always buy
        now"), overall and by days to the event, a calibration table and a daily series."""
        since = datetime.now(UTC) - timedelta(days=days)
        async with runtime.pool.connection() as conn:
            tr = await track_record(conn, since)
        return ForecastAccuracy(
            since=since,
            buckets=[BucketAccuracy(**dataclasses.asdict(b)) for b in tr.buckets],
            calibration=[CalibrationPoint(c.bin / 10, (c.bin + 1) / 10, c.forecasts,
                                          c.predicted, c.observed) for c in tr.calibration],
            daily=[DailyAccuracy(d.day, d.forecasts, d.accuracy, d.always_wait_accuracy)
                   for d in tr.daily],
            pending=tr.pending)

