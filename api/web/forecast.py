"""Buy now or wait, from the event's own get-in price series (a pure function).

The learned forecaster lives in the engine (``engine.deals.forecast``) and the API may not
import it, nor does the engine store its forecasts yet. Until it does, the event page
states a transparent rule a person can check against the chart: close to the event or
with the price rising, buy; with the price falling and time left, wait. The advice always
carries its reasons.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Advice:
    action: str  # "buy" | "wait" | "unknown"
    headline: str
    reasons: list[str]


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
