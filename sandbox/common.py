"""What every marketplace module shares: the request view, responses, parameter errors,
time and money text, the event search behind the list endpoints, and how sellers type
sections and split their tickets."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from sandbox.venues import per_seat_map

if TYPE_CHECKING:
    from sandbox.market import ListingModel
    from sandbox.venues import SeatMap, Section
    from sandbox.world import World, WorldEvent


@dataclasses.dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: bytes = b"application/json;charset=utf-8"
    headers: tuple[tuple[bytes, bytes], ...] = ()
    cacheable: bool = True


class BadParameter(ValueError):
    """A query parameter the real service would reject; carries the parameter's name."""

    def __init__(self, name: str, value: str | None = None) -> None:
        super().__init__(name)
        self.name = name
        self.value = value


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
        """The integer query parameter ``name`` in ``[lo, hi]``, else ``BadParameter``."""
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadParameter(name, raw) from None
        if not lo <= value <= hi:
            raise BadParameter(name, raw)
        return value


def json_response(obj: Any, status: int = 200, headers: tuple = ()) -> Response:
    return Response(status, orjson.dumps(obj), headers=headers, cacheable=status == 200)


def bearer(headers: dict[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (lower-case header names)."""
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


# -- time and money text --------------------------------------------------------------------

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


# -- event search ---------------------------------------------------------------------------

def filter_events(events: list[WorldEvent], *, keyword: str | None, city: str | None,
                  classification: str | None, gte: str | None,
                  lte: str | None) -> list[WorldEvent]:
    """Event search shared by the marketplaces' list endpoints (a bad date is reported
    under Ticketmaster's parameter names, whichever marketplace asked)."""
    try:
        lo = parse_when(gte) if gte else None
        hi = parse_when(lte) if lte else None
    except ValueError:
        raise BadParameter("startDateTime" if gte else "endDateTime") from None
    out = []
    kw = keyword.lower() if keyword else None
    cls = classification.lower() if classification else None
    for e in events:
        if kw and kw not in e.name.lower() and not any(kw in p.lower() for p in e.performers):
            continue
        if city and city.lower() != e.venue.city.lower():
            continue
        if cls and cls not in (e.category, e.genre.lower(), e.segment.lower(),
                               "nba" if e.category == "basketball" else "",
                               "theater" if e.category == "theatre" else ""):
            continue
        if lo is not None and e.start < lo:
            continue
        if hi is not None and e.start > hi:
            continue
        out.append(e)
    return out


# -- how sellers describe their listings ---------------------------------------------------

def _typed_section(sec: Section, variant: int) -> str:
    """How a seller typed the section: "Section 112", "LOWER 112", "112", "Sec 112"."""
    if sec.general_admission:
        return ("General Admission", "GA", sec.name.title(), "GA")[variant] \
            if sec.name == "GA" else (sec.name.title(), sec.name, sec.name.title(),
                                      f"{sec.name.title()} GA")[variant]
    if sec.name.isdigit():
        return (f"Section {sec.name}", f"{sec.tier_code} {sec.name}", sec.name,
                f"Sec {sec.name}")[variant]
    return (sec.name.title(), sec.name, f"Section {sec.name.title()}", sec.name.title())[variant]


@per_seat_map
def section_texts(smap: SeatMap) -> tuple[tuple[str, ...], ...]:
    """Per section, the four ways sellers type it (a listing's ``spelling`` picks one)."""
    return tuple(tuple(_typed_section(sec, v) for v in range(4)) for sec in smap.sections)


@functools.lru_cache(maxsize=512)
def splits(q: int, rule: int) -> tuple[int, ...]:
    """Allowed purchase sizes for a listing of ``q`` tickets under a split rule (an index
    into ``sandbox.market.SPLIT_RULES``)."""
    if rule == 3 or q == 1:
        return (q,)
    if rule == 2:
        return tuple(range(2, q + 1, 2)) or (q,)
    options = range(1, q + 1)
    if rule == 1:
        return tuple(n for n in options if q - n != 1)
    return tuple(options)
