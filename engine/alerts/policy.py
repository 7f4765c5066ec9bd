"""Delivery policy arithmetic kept pure for tests: retry backoff."""

from __future__ import annotations

import random


def backoff_seconds(attempt: int, base: float = 5.0, cap: float = 3600.0,
                    jitter: float = 0.2) -> float:
    """Exponential backoff before retry ``attempt`` (1-based): base * 2^(attempt-1), capped,
    with ±``jitter`` so many failed messages do not retry in lockstep."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay * (1 + random.uniform(-jitter, jitter))
