"""Buy now or wait: the engine's stored forecast when there is one, else a simple rule.

The learned forecaster lives in the engine (``engine.deals.buy_or_wait``); the API may not
import it, so the engine's maintenance loop stores its answers in ``event_forecasts``
(read through ``storage.forecasts``) and ``from_stored`` turns one into page advice.
Without a recent row the page states a transparent rule a person can check against the
chart: close to the event or with the price rising, buy; with the price falling and time
left, wait. The advice always carries its reasons and says which of the two it is.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.forecasts import Forecast

#: a stored forecast older than this is not shown (the engine is not running)
MAX_FORECAST_AGE = timedelta(days=2)
RULE_NOTE = ("Forecast by a simple rule of thumb from the price chart: our price model "
             "has no recent forecast for this event yet.")


@dataclasses.dataclass(frozen=True, slots=True)
class Advice:
    action: str  # "buy" | "wait" | "unknown"
    headline: str
    reasons: list[str]
    source: str = "rule"  # "model" (the engine's stored forecast) | "rule"
    source_note: str = RULE_NOTE


def from_stored(forecast: Forecast | None, now: datetime | None = None) -> Advice | None:
    """Page advice from the engine's stored forecast; None when missing or stale."""
    now = now or datetime.now(UTC)
    if forecast is None or now - forecast.computed_at > MAX_FORECAST_AGE:
        return None
    days = f"{forecast.horizon_days:g} days"
    chance = f"{forecast.probability_lower:.0%} likely to be lower within {days}"
    if forecast.advice == "wait":
        headline = f"Wait: the cheapest ticket is {chance}"
    else:
        headline = f"Buy now: the cheapest ticket is only {chance}"
    reasons = [forecast.reason]
    if forecast.expected_change_pct is not None and forecast.expected_change_pct < 0 \
            and forecast.get_in_cents:
        saving = -forecast.expected_change_pct / 100 * forecast.get_in_cents
        reasons.append(f"Expected saving by waiting: about ${saving / 100:,.0f} per ticket.")
    if forecast.expected_change_pct is not None:
        reasons.append(f"Expected change of the cheapest ticket over {days}: "
                       f"{forecast.expected_change_pct:+.0f}% "
                       f"({forecast.confidence:.0%} confident in the direction).")
    note = (f"Forecast by our price model (version {forecast.model_version}, updated "
            f"{forecast.computed_at.astimezone(UTC):%b %d %H:%M} UTC).")
    return Advice("wait" if forecast.advice == "wait" else "buy", headline, reasons,
                  "model", note)


def buy_or_wait(series: list[tuple[datetime, int]], starts_at: datetime | None,
                now: datetime | None = None) -> Advice:
    """Advice from ``series`` (time, get-in cents; oldest first) and the start time."""
    now = now or datetime.now(UTC)
    if len(series) < 2:
        return Advice("unknown", "Not enough price history yet",
                      ["We need a few observations of this event's prices to tell."])
    first = series[0][1]
    _, last = series[-1]
    low = min(p for _, p in series)
    recent = [p for t, p in series if (series[-1][0] - t).total_seconds() <= 86400]
    recent_change = (last - recent[0]) / recent[0] if recent and recent[0] else 0.0
    total_change = (last - first) / first if first else 0.0
    days_left = (starts_at - now).total_seconds() / 86400 if starts_at else None
    reasons = []
    if recent_change:
        reasons.append(f"The cheapest ticket moved {recent_change:+.0%} over the last day "
                       f"and {total_change:+.0%} since we started tracking.")
    if last > low:
        reasons.append(f"It is {(last - low) / low:.0%} above the lowest price we have seen.")
    else:
        reasons.append("It is at the lowest price we have seen.")
    if days_left is not None:
        reasons.append(f"The event is {days_left:.0f} days away." if days_left >= 1
                       else "The event is less than a day away.")
    if days_left is not None and days_left < 2:
        return Advice("buy", "Buy now: the event is close", reasons)
    if recent_change <= -0.03 and (days_left is None or days_left > 7):
        return Advice("wait", "Wait: prices are falling and there is time", reasons)
    if recent_change >= 0.03 or last <= low:
        return Advice("buy", "Buy now: prices are rising or at their low", reasons)
    return Advice("wait" if (days_left or 0) > 14 else "buy",
                  "Prices are steady: waiting is safe" if (days_left or 0) > 14
                  else "Prices are steady: buy when you are ready", reasons)
