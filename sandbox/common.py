"""Shared plumbing for the wire-format modules: the request view, responses, small helpers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from sandbox.market import ListingModel
    from sandbox.world import World


@dataclasses.dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: bytes = b"application/json;charset=utf-8"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    cacheable: bool = True


@dataclasses.dataclass(slots=True)
class Request:
    """What a handler sees: the path below the marketplace prefix, the query, the clock."""

    method: str
    parts: list[str]  # path segments below the prefix, e.g. ["discovery","v2","events.json"]
    query: dict[str, str]
    raw_query: str
    headers: dict[str, str]
    body: bytes
    t: int  # simulated now, epoch seconds
    world: World
    model: ListingModel
    prefix: str  # e.g. "/seatgeek" (as mounted)

    def int_arg(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        value = int(raw)  # ValueError -> the handler's "bad parameter" response
        if not lo <= value <= hi:
            raise ValueError(name)
        return value


class BadParameter(ValueError):
    """A query parameter the real service would reject; carries the parameter's name."""

    def __init__(self, name: str, value: str | None = None) -> None:
        super().__init__(name)
        self.name = name
        self.value = value


def json_response(obj: Any, status: int = 200, headers: tuple = ()) -> Response:
    return Response(status, orjson.dumps(obj), headers=headers, cacheable=status == 200)


def iso_z(epoch: int | float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_naive(epoch: int | float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_when(text: str) -> int:
    """ISO-8601 (with or without Z / offset) or epoch seconds -> epoch seconds (UTC)."""
    text = text.strip()
    if text.replace(".", "", 1).isdigit():
        return int(float(text))
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def dollars(cents: int) -> float:
    return round(cents / 100.0, 2)


def money_str(cents: int) -> str:
    return f"{cents / 100:.2f}"
