"""Fault injection: rate limits, transient 5xx, slow and truncated responses, and the share
of malformed listings, per marketplace, deterministic by (seed, URL, attempt number).

The k-th request for the same URL draws its fault independently of earlier attempts, so a
client that retries eventually succeeds, and two runs with the same seed see the same faults.

A block is the other kind of fault: ``{"block": {"seatgeek": {"minutes": 60, "status": 403}}}``
makes every request to that marketplace answer 403 (or 429) until the simulated clock has
moved on ``minutes`` -- a marketplace that has banned the tracker for a while. Retries do
not help; ``{"block": {"seatgeek": {"minutes": 0}}}`` lifts it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from typing import Any

from sandbox.hashing import unit

MARKETS = ("ticketmaster", "seatgeek", "eventbrite", "stubhub", "stubhub_web")
KINDS = ("rate_limit", "server_error", "slow", "truncated")


@dataclasses.dataclass(slots=True)
class FaultMix:
    """Probabilities per request (and the fixed share of malformed listings)."""

    rate_limit: float = 0.0
    server_error: float = 0.0
    slow: float = 0.0
    truncated: float = 0.0
    malformed: float = 0.0
    slow_seconds: float = 0.25
    retry_after: int = 1

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name not in FaultMix.__dataclass_fields__:
                raise ValueError(f"unknown fault setting {name!r}; expected one of "
                                 f"{', '.join(FaultMix.__dataclass_fields__)}")
            kind = int if name == "retry_after" else float
            number = kind(value)
            if name not in ("slow_seconds", "retry_after") and not 0.0 <= number <= 1.0:
                raise ValueError(f"fault {name}={value!r} must be a probability in [0, 1]")
            setattr(self, name, number)
        if self.rate_limit + self.server_error + self.slow + self.truncated > 1.0:
            raise ValueError("fault probabilities add up to more than 1")


PRESETS: dict[str, dict[str, float]] = {
    "none": {},
    "light": {"rate_limit": 0.01, "server_error": 0.005, "slow": 0.01, "truncated": 0.002,
              "malformed": 0.005, "slow_seconds": 0.3},
    "heavy": {"rate_limit": 0.12, "server_error": 0.08, "slow": 0.05, "truncated": 0.03,
              "malformed": 0.03, "slow_seconds": 0.8},
}


def preset(name: str) -> FaultMix:
    if name not in PRESETS:
        raise ValueError(f"unknown fault preset {name!r}; use one of {', '.join(PRESETS)}")
    mix = FaultMix()
    mix.update(PRESETS[name])
    return mix


class FaultInjector:
    """Decides each request's fault and counts what it served."""

    def __init__(self, seed: int, faults: str = "none") -> None:
        self.seed = seed
        self.mixes: dict[str, FaultMix] = {m: preset(faults) for m in MARKETS}
        self.attempts: dict[str, int] = {}
        self.requests: Counter[str] = Counter()
        self.injected: dict[str, Counter[str]] = defaultdict(Counter)
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        #: marketplace -> (blocked until, simulated epoch seconds; the status it answers)
        self.blocks: dict[str, tuple[float, int]] = {}

    def configure(self, body: dict[str, Any], now: float = 0.0) -> None:
        """``{"preset": "heavy"}``, ``{"all": {...}}``, ``{"marketplaces": {m: {...}}}``
        and/or ``{"block": {m: {"minutes": N, "status": 403}}}`` (from ``now``, simulated)."""
        for m, block in (body.get("block") or {}).items():
            if m not in self.mixes:
                raise ValueError(f"unknown marketplace {m!r} to block; expected one of "
                                 f"{', '.join(MARKETS)}")
            minutes = float(block.get("minutes", 60))
            status = int(block.get("status", 403))
            if status not in (403, 429) or minutes < 0:
                raise ValueError("a block answers status 403 or 429 for minutes >= 0")
            if minutes == 0:
                self.blocks.pop(m, None)
            else:
                self.blocks[m] = (now + minutes * 60, status)
        if "preset" in body:
            self.mixes = {m: preset(str(body["preset"])) for m in MARKETS}
        for m in MARKETS:
            if "all" in body:
                self.mixes[m].update(body["all"])
        for m, values in (body.get("marketplaces") or {}).items():
            if m not in self.mixes:
                raise ValueError(f"unknown marketplace {m!r}; expected one of "
                                 f"{', '.join(MARKETS)}")
            self.mixes[m].update(values)
        self.attempts.clear()

    def blocked(self, market: str, now: float) -> int | None:
        """The status a blocked marketplace answers at simulated time ``now``, else None."""
        block = self.blocks.get(market)
        if block is None:
            return None
        if now >= block[0]:
            del self.blocks[market]
            return None
        self.requests[market] += 1
        self.injected[market]["blocked"] += 1
        return block[1]

    def malformed_rates(self) -> dict[str, float]:
        return {m: mix.malformed for m, mix in self.mixes.items()}

    def active(self, market: str) -> bool:
        mix = self.mixes[market]
        return (mix.rate_limit + mix.server_error + mix.slow + mix.truncated) > 0

    def decide(self, market: str, url: str) -> str | None:
        """The fault (or None) for this attempt at ``url``; counts the attempt."""
        self.requests[market] += 1
        mix = self.mixes[market]
        if not self.active(market):
            return None
        attempt = self.attempts.get(url, 0)
        if len(self.attempts) > 500_000:
            self.attempts.clear()
        self.attempts[url] = attempt + 1
        u = unit(self.seed, url, attempt)
        edge = 0.0
        for kind in KINDS:
            edge += getattr(mix, kind)
            if u < edge:
                self.injected[market][kind] += 1
                return kind
        return None

    def server_error_status(self, url: str) -> int:
        return (500, 502, 503)[int(unit(self.seed, "5xx", url, self.attempts.get(url, 0)) * 3)]

    def snapshot(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "requests_total": sum(self.requests.values()),
                "faults": {m: dict(c) for m, c in self.injected.items()},
                "statuses": {m: {str(k): v for k, v in c.items()}
                             for m, c in self.statuses.items()},
                "config": {m: mix.as_dict() for m, mix in self.mixes.items()},
                "blocks": {m: {"until": until, "status": status}
                           for m, (until, status) in self.blocks.items()}}
