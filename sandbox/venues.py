"""Venues and their seat maps: sections with rows, seats per row and a price multiplier.

Section ``value`` is relative to the venue's cheapest seat; listings draw a section with
probability proportional to ``weight`` (capacity, tilted towards where resale happens).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

import numpy as np

_T = TypeVar("_T")
_LETTERS = tuple("ABCDEFGHJKLMNPQRSTUVWXYZ")


@dataclasses.dataclass(frozen=True, slots=True)
class Section:
    name: str  # canonical: "112", "CLUB 204", "FLOOR A", "COURTSIDE 1", "GA", "ORCHESTRA"
    number: str  # what sellers type after the tier word: "112", "204", "A"
    tier: str  # zone as marketplaces show it: "Lower Level", "Club", "Upper Level", ...
    tier_code: str  # seller shorthand: "LOWER", "CLUB", "UPPER", "FLOOR", ...
    rows: tuple[str, ...]  # () = general admission
    seats_per_row: int
    value: float
    weight: float
    section_id: int
    zone_id: int

    @property
    def general_admission(self) -> bool:
        return not self.rows


@dataclasses.dataclass(frozen=True, slots=True)
class SeatMap:
    name: str  # "basketball", "concert", "soccer", "theatre", "ga"
    config_id: int
    sections: tuple[Section, ...]

    def arrays(self) -> dict[str, np.ndarray]:
        """Vectorisation helpers: cumulative weights, values, row and seat counts."""
        w = np.array([s.weight for s in self.sections], dtype=np.float64)
        return {
            "cum": np.cumsum(w) / w.sum(),
            "value": np.array([s.value for s in self.sections]),
            "rows": np.array([max(len(s.rows), 1) for s in self.sections], dtype=np.int64),
            "seats": np.array([s.seats_per_row for s in self.sections], dtype=np.int64),
            "ga": np.array([s.general_admission for s in self.sections]),
        }


def per_seat_map(build: Callable[[SeatMap], _T]) -> Callable[[SeatMap], _T]:
    """``build(smap)`` computed once per seat map configuration (there are a handful, and
    every page of an event reuses its map's tables)."""
    cache: dict[int, _T] = {}

    def cached(smap: SeatMap) -> _T:
        value = cache.get(smap.config_id)
        if value is None:
            value = cache[smap.config_id] = build(smap)
        return value

    cached.__doc__ = build.__doc__
    return cached


@dataclasses.dataclass(frozen=True, slots=True)
class Venue:
    key: str
    name: str
    address: str
    city: str
    state: str
    postal_code: str
    lat: float
    lon: float
    kind: str  # arena | stadium | theatre | club
    maps: dict[str, SeatMap]
    number: int  # small stable integer used to derive marketplace ids
    timezone: str = "America/Los_Angeles"

    @property
    def capacity(self) -> int:
        first = next(iter(self.maps.values()))
        return sum(max(len(s.rows), 1) * s.seats_per_row for s in first.sections)


class _Builder:
    """Collects sections with stable ids for one seat map."""

    def __init__(self, venue_no: int, config_no: int) -> None:
        self._base = venue_no * 10_000 + config_no * 1_000
        self.sections: list[Section] = []

    def add(self, name: str, number: str, tier: str, code: str, rows: tuple[str, ...],
            seats: int, value: float, weight: float, zone: int) -> None:
        self.sections.append(Section(name, number, tier, code, rows, seats, value, weight,
                                     self._base + len(self.sections) + 1, self._base + zone))


def _num_rows(n: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(1, n + 1))


def _letter_rows(n: int) -> tuple[str, ...]:
    return _LETTERS[:n]


def _moda(concert: bool) -> SeatMap:
    b = _Builder(1, 2 if concert else 1)
    if concert:
        for letter in "ABCDEF":
            b.add(f"FLOOR {letter}", letter, "Floor", "FLOOR", _num_rows(20), 24, 3.2, 3.0, 1)
    else:
        for n in range(1, 5):
            b.add(f"COURTSIDE {n}", str(n), "Courtside", "COURTSIDE", ("A",), 16, 14.0, 0.6, 1)
    for n in range(101, 125):
        if concert and n in (101, 102, 123, 124):
            continue  # behind the stage
        center = n in (103, 104, 105, 111, 112, 113, 115, 116, 117, 123, 124, 101)
        tier = "Lower Center" if center else "Lower Level"
        value = 3.4 if center else 2.5
        b.add(str(n), str(n), tier, "LOWER", _num_rows(25), 22, value, 4.0, 2 if center else 3)
    for n in range(201, 213):
        b.add(f"CLUB {n}", str(n), "Club", "CLUB", _letter_rows(8), 18, 4.2, 1.2, 4)
    for n in range(301, 330):
        b.add(str(n), str(n), "Upper Level", "UPPER", _letter_rows(18), 24, 1.0, 4.5, 5)
    return SeatMap("concert" if concert else "basketball", 1002 if concert else 1001,
                   tuple(b.sections))


def _providence() -> SeatMap:
    b = _Builder(2, 1)
    for n in range(101, 122):
        center = 105 <= n <= 112
        b.add(str(n), str(n), "Lower Sideline" if center else "Lower Corner", "LOWER",
              _num_rows(22), 26, 2.2 if center else 1.6, 4.0, 1 if center else 2)
    for n in range(201, 216):
        b.add(str(n), str(n), "East Deck", "DECK", _letter_rows(14), 26, 1.3, 3.0, 3)
    b.add("TIMBERS ARMY", "GA", "North End", "GA", (), 2400, 1.0, 4.0, 4)
    return SeatMap("soccer", 2001, tuple(b.sections))


def _coliseum() -> SeatMap:
    b = _Builder(3, 1)
    b.add("FLOOR", "GA", "Floor", "FLOOR", (), 2500, 1.9, 5.0, 1)
    for n in range(1, 21):
        b.add(str(n), str(n), "Lower Level", "SEC", _letter_rows(16), 20, 1.4, 3.0, 2)
    for n in range(21, 33):
        b.add(str(n), str(n), "Upper Level", "SEC", _letter_rows(10), 20, 1.0, 2.0, 3)
    return SeatMap("concert", 3001, tuple(b.sections))


def _theatre(venue_no: int) -> SeatMap:
    b = _Builder(venue_no, 1)
    parts = (("ORCHESTRA", "Orchestra", 26, 2.6, 5.0), ("ORCHESTRA LEFT", "Orchestra", 20, 2.1,
             2.5), ("ORCHESTRA RIGHT", "Orchestra", 20, 2.1, 2.5), ("MEZZANINE", "Mezzanine",
             12, 1.7, 3.0), ("BALCONY", "Balcony", 14, 1.0, 3.5))
    for zone, (name, tier, rows, value, weight) in enumerate(parts, start=1):
        b.add(name, name.title(), tier, name.split()[0], _letter_rows(min(rows, 24)), 28,
              value, weight, zone)
    return SeatMap("theatre", venue_no * 1000 + 1, tuple(b.sections))


def _club(venue_no: int, capacity: int, balcony: bool) -> SeatMap:
    b = _Builder(venue_no, 1)
    b.add("GA", "GA", "General Admission", "GA", (), capacity, 1.0, 5.0, 1)
    if balcony:
        b.add("BALCONY", "Balcony", "Balcony", "BALCONY", _letter_rows(4), 30, 1.4, 1.0, 2)
    return SeatMap("ga", venue_no * 1000 + 1, tuple(b.sections))


def build_venues() -> dict[str, Venue]:
    """The Portland venues of the world (fixed; events are what the seed varies)."""
    venues = [
        Venue("moda", "Moda Center", "1 N Center Ct St", "Portland", "OR", "97227", 45.5316,
              -122.6668, "arena", {"basketball": _moda(False), "concert": _moda(True)}, 1),
        Venue("providence", "Providence Park", "1844 SW Morrison St", "Portland", "OR", "97205",
              45.5215, -122.6917, "stadium", {"soccer": _providence()}, 2),
        Venue("vmc", "Veterans Memorial Coliseum", "300 N Winning Way", "Portland", "OR",
              "97227", 45.5330, -122.6690, "arena", {"concert": _coliseum()}, 3),
        Venue("keller", "Keller Auditorium", "222 SW Clay St", "Portland", "OR", "97201",
              45.5126, -122.6788, "theatre", {"theatre": _theatre(4)}, 4),
        Venue("schnitzer", "Arlene Schnitzer Concert Hall", "1037 SW Broadway", "Portland",
              "OR", "97205", 45.5172, -122.6816, "theatre", {"theatre": _theatre(5)}, 5),
        Venue("crystal", "Crystal Ballroom", "1332 W Burnside St", "Portland", "OR", "97209",
              45.5231, -122.6854, "club", {"ga": _club(6, 1500, True)}, 6),
        Venue("roseland", "Roseland Theater", "8 NW 6th Ave", "Portland", "OR", "97209",
              45.5237, -122.6760, "club", {"ga": _club(7, 1400, True)}, 7),
        Venue("dougfir", "Doug Fir Lounge", "830 E Burnside St", "Portland", "OR", "97214",
              45.5229, -122.6577, "club", {"ga": _club(8, 300, False)}, 8),
        Venue("helium", "Helium Comedy Club", "1510 SE 9th Ave", "Portland", "OR", "97214",
              45.5118, -122.6563, "club", {"ga": _club(9, 280, False)}, 9),
    ]
    return {v.key: v for v in venues}
