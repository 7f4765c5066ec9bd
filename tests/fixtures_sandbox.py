"""Sandbox fixtures (owned by the sandbox): a shared small world and a factory for tests
that need their own (faults turned up, a different seed, a moving clock)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crawler.sandbox.server import SandboxHandle, start_sandbox

SMALL_WORLD = {"seed": 7, "events": 12, "listings_per_event": 60, "faults": "none"}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    """One sandbox for the session: 12 events, ~60 listings each, no faults.

    Tests that move its clock or change its faults must put them back (or use
    ``make_sandbox``), because other tests share it.
    """
    with start_sandbox(**SMALL_WORLD) as handle:
        yield handle


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxHandle]]:
    """Factory: ``make_sandbox(faults="heavy", seed=3)``; stopped when the test ends."""
    started: list[SandboxHandle] = []

    def make(**overrides: Any) -> SandboxHandle:
        handle = start_sandbox(**{**SMALL_WORLD, **overrides})
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.stop()
