"""The simulated clock: starts at the world's start, moves when told, or runs at a multiple
of real time. Responses are computed at whole simulated seconds."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any


class SimClock:
    def __init__(self, start: int, speed: float = 0.0) -> None:
        self.start = start
        self._base = float(start)
        self._anchor = time.monotonic()
        self.speed = speed

    def now(self) -> float:
        if self.speed:
            return self._base + (time.monotonic() - self._anchor) * self.speed
        return self._base

    def tick(self) -> int:
        return int(self.now())

    def _rebase(self, value: float) -> None:
        self._base = value
        self._anchor = time.monotonic()

    def advance(self, seconds: float) -> None:
        self._rebase(self.now() + seconds)

    def set(self, epoch: float) -> None:
        self._rebase(epoch)

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("clock speed must be >= 0 (0 = only moves when told)")
        self._rebase(self.now())
        self.speed = speed

    def as_dict(self) -> dict[str, Any]:
        now = self.now()
        return {"now": datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "epoch": round(now, 3), "tick": int(now), "speed": self.speed,
                "start": datetime.fromtimestamp(self.start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
