"""The one polling helper of the tests: wait for a condition, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05,
               message: str = "condition not met") -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that; fail with ``message`` when ``timeout`` seconds pass first.

    An exception from ``predicate`` (an assertion that something went wrong on the way)
    propagates at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout:g} s)")
        time.sleep(interval)
