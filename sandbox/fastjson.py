"""Fast JSON for listing pages: one bytes ``%`` format over a whole page's columns.

A page is ~100 listings of ~20 fields. Building a dict per listing and serialising it costs
far more than the numbers behind it, so the hot endpoints render their listings from numpy
columns instead: each field becomes a list (integers as ints, text as JSON bytes looked up
in per-seat-map tables, where neighbouring fields that depend on the same indexes share
one entry), and one format repeated per listing is applied to all columns at once. The
output is byte-for-byte what ``orjson.dumps`` gives for the equivalent dicts
(``tests/test_sandbox_render.py``); money in dollars is written as orjson writes
``round(cents / 100, 2)`` ("12.0", "12.5", "12.34").
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import orjson

from sandbox.market import MAX_QTY
from sandbox.venues import SeatMap, per_seat_map

_SEP = b"\x1f"  # never in rendered JSON: orjson escapes control characters


def jstr(text: str) -> str:
    """``text`` as a JSON string literal, exactly as orjson writes it."""
    return orjson.dumps(text).decode()


def plain(text: str) -> bool:
    """Whether ``text`` appears unchanged inside a JSON string (nothing to escape), so it can
    be glued to other text inside one literal; the renderers fall back to dicts otherwise."""
    return jstr(text) == f'"{text}"'


def table(values: Sequence[str | bytes]) -> np.ndarray:
    """Texts (stored as UTF-8 bytes) to fancy-index with a numpy index column
    (``t[idx].tolist()`` is a column for ``rows``)."""
    out = np.empty(len(values), dtype=object)
    out[:] = [v.encode() if isinstance(v, str) else v for v in values]
    return out


#: b"%d.%s" % (cents // 100, FRAC[cents % 100]) is how orjson prints round(cents / 100, 2)
FRAC = table(["0" if v == 0 else (str(v // 10) if v % 10 == 0 else f"{v:02d}")
              for v in range(100)])


def money(cents: np.ndarray) -> tuple[list[int], list[bytes]]:
    """Two columns for a ``%d.%s`` dollars field from integer cents (non-negative)."""
    return (cents // 100).tolist(), FRAC[cents % 100].tolist()


def rows(template: str | bytes, columns: Sequence[Sequence[Any]], sep: bytes = b",") -> bytes:
    """``sep.join(template % row for row in zip(*columns))`` as one C-level format call.

    Bytes formatting: string columns are bytes (``table`` lookups), numbers are ints."""
    n = len(columns[0]) if columns else 0
    if n == 0:
        return b""
    if isinstance(template, str):
        template = template.encode()
    flat = tuple(chain.from_iterable(zip(*columns, strict=True)))
    return sep.join([template] * n) % flat


def literal(text: str) -> str:
    """``text`` to embed in a ``rows`` template (``%`` doubled)."""
    return text.replace("%", "%%")


def column(template: str | bytes, columns: Sequence[Sequence[Any]]) -> list[bytes]:
    """``[template % row for row in zip(*columns)]`` (for a composite field like a price)."""
    if not columns or not len(columns[0]):
        return []
    return rows(template, columns, _SEP).split(_SEP)


def nullify(values: list[bytes], where: np.ndarray, text: bytes = b"null") -> list[bytes]:
    """Replace ``values[i]`` by ``text`` where the boolean mask is set (malformed records)."""
    for i in np.flatnonzero(where).tolist():
        values[i] = text
    return values


@functools.cache
def _calendar() -> tuple[np.ndarray, np.ndarray]:
    """"YYYY-MM-DDT" per day since 1970 (to 2149) and "HH:MM:SSZ" per second of a day."""
    days = np.datetime_as_string(np.arange(_DAYS).astype("datetime64[D]"), unit="D")
    seconds = np.datetime_as_string(np.arange(86_400).astype("datetime64[s]"), unit="s")
    return (table(np.char.add(days, "T").tolist()),
            table([x[11:] + "Z" for x in seconds.tolist()]))


_DAYS = 65_536


def iso_z_parts(epochs: np.ndarray) -> tuple[list[bytes], list[bytes]]:
    """Epoch seconds -> ("YYYY-MM-DDT", "HH:MM:SSZ") columns for a ``%s%s`` field."""
    days, seconds = _calendar()
    day = epochs // 86_400
    if epochs.size and (day.min() < 0 or day.max() >= _DAYS):
        text = np.datetime_as_string(epochs.astype("datetime64[s]"), unit="s").tolist()
        return [x[:11].encode() for x in text], [x[11:].encode() + b"Z" for x in text]
    return days[day].tolist(), seconds[epochs % 86_400].tolist()


@functools.lru_cache(maxsize=4096)
def seat_run(first: int, count: int) -> tuple[str, ...]:
    """The seat numbers ``first .. first + count - 1`` as strings."""
    return tuple(str(x) for x in range(first, first + count))


class MapGeometry:
    """Index arithmetic over a seat map: (section, row) and (first seat, count) as one int,
    so the text of several fields comes from one fancy-indexed table lookup."""

    def __init__(self, sections: Sequence[Any]) -> None:
        self.rows = max((len(s.rows) for s in sections), default=0) + 1  # row -1 -> 0
        self.first_seats = max((s.seats_per_row for s in sections if s.rows), default=1)
        self.counts = MAX_QTY + 1

    def row_at(self, section: np.ndarray, row: np.ndarray) -> np.ndarray:
        return section * self.rows + row + 1

    def seats_at(self, row: np.ndarray, seat0: np.ndarray, qty: np.ndarray) -> np.ndarray:
        """Seat-run index (first seat, count); first seat 0 means general admission."""
        return np.where(row < 0, 0, seat0) * self.counts + qty

    def row_table(self, sections: Sequence[Any], render: Any, width: int = 1) -> np.ndarray:
        """``render(section index, row name or None)`` -> ``width`` strings, for every
        ``row_at`` index (unused indexes hold "")."""
        out: list[str] = []
        for k, sec in enumerate(sections):
            names = [None, *sec.rows]
            for i in range(self.rows):
                out += render(k, names[i]) if i < len(names) else [""] * width
        return table(out)

    def seat_table(self, render: Any, width: int = 1) -> np.ndarray:
        """``render(first seat, count)`` -> ``width`` strings, for every ``seats_at`` index."""
        out: list[str] = []
        for first in range(self.first_seats + 1):
            for n in range(self.counts):
                out += render(first, n)
        return table(out)


@per_seat_map
def plain_map(smap: SeatMap) -> bool:
    """Whether every section, row and zone name of a seat map needs no JSON escaping (the
    templates glue some of them into one string literal)."""
    names = [x for s in smap.sections for x in (s.name, s.tier, s.tier_code, *s.rows)]
    return all(plain(x) for x in names)
