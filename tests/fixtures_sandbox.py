"""Sandbox fixtures (owned by the sandbox): a shared small world, a factory for tests that
need their own (faults turned up, a different seed, a moving clock), an in-process ASGI
client, and a recursive shape comparison against the real marketplace fixtures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sandbox.server import SandboxHandle, start_sandbox

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


# the real marketplace responses live in shared/, beside the repository
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "marketplaces"
if not FIXTURES.exists():  # without shared/ beside the checkout: the copy kept in tests/
    FIXTURES = Path(__file__).parent / "fixtures" / "marketplaces"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def shape_errors(samples: list[Any], actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs in shape from the fixture ``samples`` (values at one path).

    Keys present in every sample are required; types must match one sample's type (int and
    float are both "number"); a null or empty list in the fixture accepts anything; extra
    keys are allowed.
    """
    present = [s for s in samples if s is not None]
    if not present:
        return []
    if actual is None:
        return [] if len(present) < len(samples) else [f"{path}: null, fixture has a value"]
    kinds = {_kind(s) for s in present}
    if _kind(actual) not in kinds:
        return [f"{path}: {_kind(actual)}, fixture has {'/'.join(sorted(kinds))}"]
    errors: list[str] = []
    if isinstance(actual, dict):
        dicts = [s for s in present if isinstance(s, dict)]
        required = set.intersection(*(set(d) for d in dicts)) if dicts else set()
        errors += [f"{path}.{k}: missing" for k in sorted(required - set(actual))]
        for k, v in actual.items():
            sub = [d[k] for d in dicts if k in d]
            if sub:
                errors += shape_errors(sub, v, f"{path}.{k}")
    elif isinstance(actual, list):
        elements = [x for s in present if isinstance(s, list) for x in s]
        for i, v in enumerate(actual[:50]):
            errors += shape_errors(elements, v, f"{path}[{i}]")
    return errors


def assert_shape(fixture_value: Any, actual: Any) -> None:
    errors = shape_errors([fixture_value], actual)
    assert not errors, "shape differs from the real response:\n" + "\n".join(errors[:20])


class AsgiClient:
    """Calls a sandbox ASGI app directly: status, headers and body bytes."""

    def __init__(self, app: Any, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.headers = headers or {"authorization": "Bearer sandbox"}

    def request(self, method: str, url: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        hdrs = {**self.headers, **(headers or {})}
        scope = {"type": "http", "method": method, "path": parts.path,
                 "query_string": parts.query.encode(),
                 "headers": [(k.lower().encode(), v.encode()) for k, v in hdrs.items()]}
        out: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            out.append(message)

        asyncio.run(self.app(scope, receive, send))
        start = out[0]
        headers_out = {k.decode(): v.decode() for k, v in start["headers"]}
        return start["status"], headers_out, b"".join(m.get("body", b"") for m in out[1:])

    def get(self, url: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", url, **kw)

    def json(self, url: str, **kw: Any) -> Any:
        status, _, body = self.get(url, **kw)
        assert status == 200, (url, status, body[:300])
        return json.loads(body)

    def post(self, url: str, payload: dict[str, Any]) -> Any:
        status, _, body = self.request("POST", url, json.dumps(payload).encode())
        assert status == 200, (url, status, body[:300])
        return json.loads(body)
