"""Forecasts and the track record as clients see them."""

from __future__ import annotations

from datetime import datetime

import msgspec


class EventForecast(msgspec.Struct):
    """Buy now or wait, with the model's probability and what waiting is expected to save."""

    event_id: int
    advice: str  # "wait" | "buy now"
    probability_lower: float  # that the get-in price is lower within horizon_days
    horizon_days: float
    get_in_cents: int | None
    expected_change_pct: float | None
    expected_saving_cents: int | None  # per ticket, when the price is expected to fall
    wait_until_days_before: float | None  # with "wait": buy at the latest this many days out
    days_to_event: float | None
    reasons: list[str]
    model_version: str
    computed_at: datetime


class BucketAccuracy(msgspec.Struct):
    bucket: str  # "all" or a days-to-event bucket
    forecasts: int
    accuracy: float
    brier: float
    always_wait_accuracy: float  # naive: "prices always fall"
    always_buy_accuracy: float  # naive: "buy now, always"
    always_wait_brier: float
    saving_pct: float  # realised saving of following the advice, % of the get-in price
    always_wait_saving_pct: float


class CalibrationPoint(msgspec.Struct):
    probability_from: float
    probability_to: float
    forecasts: int
    predicted: float
    observed: float


class DailyAccuracy(msgspec.Struct):
    day: datetime
    forecasts: int
    accuracy: float
    always_wait_accuracy: float


class ForecastAccuracy(msgspec.Struct):
    """How often the deployment's buy-or-wait advice was right, from its own graded
    forecasts, against the naive answers."""

    since: datetime
    buckets: list[BucketAccuracy]
    calibration: list[CalibrationPoint]
    daily: list[DailyAccuracy]
    pending: int
