"""When to crawl an event again: by time to event and recent volatility, within a budget.

Tonight's games move every few minutes; next month's barely move, so a few hours is
enough. A volatile event (its lowest price moved a lot last time) is crawled sooner.
Each marketplace API key has a daily request budget that the schedule must not exceed.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

#: (time to event at most, interval): the first row that fits wins
_TIERS: tuple[tuple[timedelta, timedelta], ...] = (
    (timedelta(hours=12), timedelta(minutes=3)),
    (timedelta(days=2), timedelta(minutes=15)),
    (timedelta(days=7), timedelta(hours=1)),
    (timedelta(days=30), timedelta(hours=3)),
)
_FAR = timedelta(hours=6)
_UNKNOWN = timedelta(hours=1)


def recrawl_interval(starts_at: datetime | None, now: datetime, volatility: float = 0.0,
                     speed: float = 1.0) -> timedelta:
    """How long until an event is due again.

    Args:
        starts_at: event start (UTC); ``None`` (TBA) gets an hourly crawl.
        now: the current time (UTC).
        volatility: relative move of the lowest price since the last crawl (0.1 = 10 %);
            each 10 % halves the interval, down to a quarter.
        speed: divides every interval (tests and demos run the schedule faster).
    """
    if starts_at is None:
        base = _UNKNOWN
    else:
        left = starts_at - now
        if left < -timedelta(hours=4):
            return timedelta(days=365) / max(speed, 1e-9)  # over: crawl no more
        base = next((every for horizon, every in _TIERS if left <= horizon), _FAR)
    factor = max(0.25, 1.0 / (1.0 + 10.0 * max(0.0, volatility)))
    return base * factor / max(speed, 1e-9)


def volatility(previous_low: int | None, current_low: int | None) -> float:
    """Relative change of the lowest price between two crawls (0 when unknown)."""
    if not previous_low or current_low is None:
        return 0.0
    return abs(current_low - previous_low) / previous_low


@dataclasses.dataclass(slots=True)
class DailyBudget:
    """Requests left today for one marketplace key; resets at UTC midnight.

    A shard costs about one request per page; the schedule spends from the budget before
    it hands a shard out and skips due work once the day is spent (refreshes included:
    a key that is out of budget would be refused by the marketplace anyway).
    """

    limit: int
    spent: int = 0
    day: str = ""

    def _roll(self, now: datetime) -> None:
        today = now.strftime("%Y-%m-%d")
        if today != self.day:
            self.day, self.spent = today, 0

    def try_spend(self, cost: int, now: datetime) -> bool:
        self._roll(now)
        if self.limit and self.spent + cost > self.limit:
            return False
        self.spent += cost
        return True

    def left(self, now: datetime) -> int:
        self._roll(now)
        return max(0, self.limit - self.spent) if self.limit else 1 << 62
