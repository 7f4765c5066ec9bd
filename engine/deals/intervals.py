"""Prediction intervals of the fair price, calibrated per section tier (split conformal).

A fitted ``FairPriceModel`` gives a point estimate (log scale). ``calibrate`` looks at how
far reference values fell from that estimate on a calibration set the model did not use
for the point estimate and keeps, per section tier, the median offset and the lower and
upper quantiles of the log ratio (with the split-conformal finite-sample correction), so
an 80 % interval covers about 80 % of new values *in every tier*, not only overall.

What the reference value is decides what the interval means:

* ``"sales"``: the true value of a seat (a deployment's sale records; the sandbox's truth
  in the benchmark). The interval then covers what the seat is worth.
* ``"asks"`` (the default the scheduled retraining uses when it has no sale records): the
  asking prices of the listings themselves, each against the estimate from the *other*
  listings. The interval then covers what a seat like this is listed at, which is wider
  (sellers' markups are in it) and centred on the typical ask.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

#: The key of the pooled entry used for tiers with too few calibration values.
ALL_TIERS = "*"


@dataclasses.dataclass(frozen=True, slots=True)
class TierInterval:
    """Offsets (log scale) from the model's estimate: centre, lower and upper bound."""

    center: float
    low: float
    high: float
    n: int


@dataclasses.dataclass(slots=True)
class IntervalCalibration:
    """Per-tier interval offsets, the level they cover and what they were calibrated on."""

    level: float
    basis: str  # "sales" | "asks"
    tiers: dict[str, TierInterval]

    def offsets(self, tier_labels: list[str], tier_codes: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: centre, lower and upper offsets (log scale) for its tier."""
        pooled = self.tiers.get(ALL_TIERS, TierInterval(0.0, 0.0, 0.0, 0))
        table = np.array([[t.center, t.low, t.high] for t in
                          (self.tiers.get(label, pooled) for label in tier_labels)]
                         ).reshape(-1, 3)
        picked = table[tier_codes] if len(tier_labels) else np.zeros((len(tier_codes), 3))
        return picked[:, 0], picked[:, 1], picked[:, 2]


def _conformal(values: np.ndarray, level: float) -> tuple[float, float, float]:
    """Median and the two-sided split-conformal quantiles of ``values``."""
    n = len(values)
    tail = (1.0 - level) / 2.0
    k_hi = min(n, math.ceil((n + 1) * (1.0 - tail)))
    k_lo = max(1, math.floor((n + 1) * tail))
    s = np.sort(values)
    return float(np.median(s)), float(s[k_lo - 1]), float(s[k_hi - 1])


def calibrate(log_estimate: np.ndarray, log_reference: np.ndarray, tier_labels: list[str],
              tier_codes: np.ndarray, *, level: float = 0.8, basis: str = "sales",
              min_per_tier: int = 40) -> IntervalCalibration:
    """Per-tier offsets from the log ratio reference / estimate (NaN rows are skipped);
    tiers with fewer than ``min_per_tier`` values use the pooled offsets."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"interval level must be between 0 and 1, got {level}")
    ratio = log_reference - log_estimate
    ok = np.isfinite(ratio)
    if ok.sum() < min_per_tier:
        raise ValueError(f"cannot calibrate intervals on {int(ok.sum())} values: "
                         f"need at least {min_per_tier}")
    tiers = {ALL_TIERS: TierInterval(*_conformal(ratio[ok], level), int(ok.sum()))}
    for code, label in enumerate(tier_labels):
        sel = ok & (tier_codes == code)
        if sel.sum() >= min_per_tier:
            tiers[label] = TierInterval(*_conformal(ratio[sel], level), int(sel.sum()))
    return IntervalCalibration(level, basis, tiers)


__all__ = ["ALL_TIERS", "IntervalCalibration", "TierInterval", "calibrate"]
