"""Normalisation shared by every parser: sections, rows, seats, money, delivery, times.

The same seat must compare across marketplaces: SeatGeek sellers type "Section 112",
StubHub says "Lower Center 112", Ticketmaster "112". Each function here maps the raw
string to one canonical form and is cached, because a venue has a few hundred distinct
section and row strings while a crawl sees millions of listings.

Money is parsed exactly: strings through ``Decimal``; floats (orjson gives JSON numbers
as floats) through their shortest round-trip repr, with a fast path that is exact for
any value with at most two decimals.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

__all__ = [
    "UNKNOWN_SECTION",
    "category",
    "delivery",
    "parse_time",
    "row",
    "seats",
    "section",
    "splits",
    "to_cents",
    "to_int",
]

#: Returned by :func:`section` for a string that names no section ("", "N/A", "TBD", "???").
UNKNOWN_SECTION = ""

_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)

# --- money --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _str_cents(text: str) -> int | None:
    cleaned = text.strip().replace(",", "").replace("$", "").replace("USD", "").strip()
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    try:  # to_integral_value, unlike quantize, takes any size (callers refuse huge amounts)
        return int((value * _HUNDRED).to_integral_value(rounding=ROUND_HALF_UP))
    except ArithmeticError:  # beyond Decimal's exponent range
        return None


def to_cents(value: Any) -> int | None:
    """Dollars (number or string like "93.25", "$1,234.50") -> integer cents, exactly.

    Returns None for a missing or unreadable amount (the caller decides if that is a reject).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 100
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        scaled = value * 100.0
        rounded = round(scaled)
        if abs(scaled - rounded) < 1e-7 and abs(value) < 1e11:
            return int(rounded)  # exact: the literal had at most two decimals
        return _str_cents(repr(value))
    if isinstance(value, str):
        return _str_cents(value)
    if isinstance(value, Decimal):
        return _str_cents(str(value))
    return None


def to_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string; None otherwise."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None


# --- sections and rows --------------------------------------------------------------------

_PUNCT = re.compile(r"[^A-Z0-9 ]+")
_SPACES = re.compile(r"\s+")
_CODE = re.compile(r"^(?:[A-Z]{0,2}\d+[A-Z]{0,2}|[A-Z])$")  # "112", "112A", "FL1", "A"
_UNKNOWN = {"", "NA", "N A", "TBD", "TBA", "UNKNOWN", "NONE", "NULL", "SECTION", "SEC", "ROW"}
#: Words that only say where a numbered section is ("Lower Center 112" is section 112).
_FILLER = {
    "SECTION", "SEC", "SECT", "SECTN", "LOWER", "UPPER", "MIDDLE", "MAIN", "LEVEL", "LVL",
    "BOWL", "CENTER", "CENTRE", "CORNER", "END", "SIDELINE", "BASELINE", "ENDZONE", "ZONE",
    "MEZZANINE", "MEZZ", "BALCONY", "TERRACE", "PLAZA", "PROMENADE", "LOGE", "RESERVED",
    "SEATING", "SEATS", "THE", "OF", "L", "U", "M", "LL", "UL", "LB", "UB", "ORCHESTRA",
    "ORCH", "PREMIUM", "EAST", "WEST", "NORTH", "SOUTH", "SIDE", "BEHIND", "BENCH", "HOME",
    "AWAY", "VISITOR", "VISITORS", "DECK", "RIVER", "STAND", "PAVILION", "BLEACHERS", "BOX",
}
#: Named areas that are distinct from the bowl's numbered sections: kept as a prefix.
_NAMED = {
    "FLOOR": "FLOOR", "FLR": "FLOOR", "FL": "FLOOR", "COURTSIDE": "COURTSIDE", "COURT": "COURTSIDE",
    "CLUB": "CLUB", "SUITE": "SUITE", "SUITES": "SUITE", "PIT": "PIT", "LOFT": "LOFT",
    "TABLE": "TABLE", "STANDING": "GA", "LAWN": "LAWN",
}
_GA = {"GA", "GENERAL ADMISSION", "GENERAL", "GEN ADM", "GENERAL ADMISSION STANDING", "ADMISSION"}


_LABELS = {"SECTION", "SEC", "SECT", "SECTN", "SECTIONS"}


@functools.lru_cache(maxsize=65536)
def section(raw: str | None) -> str:
    """Canonical section: "Sec 112", "Section 112", "LOWER 112", "112" -> "112".

    Floor, courtside, club and suite areas keep their kind ("Floor B" -> "FLOOR B",
    "Club Level 2" -> "CLUB 2"); general admission is "GA"; named areas without a number
    keep their name ("Section Orchestra Left" -> "ORCHESTRA LEFT"). Returns
    ``UNKNOWN_SECTION`` ("") when the string names nothing, which parsers quarantine.
    """
    if raw is None:
        return UNKNOWN_SECTION
    text = _SPACES.sub(" ", _PUNCT.sub(" ", str(raw).upper())).strip()
    if text in _UNKNOWN:
        return UNKNOWN_SECTION
    if text in _GA or text.startswith("GENERAL ADMISSION") or text.startswith("GA "):
        return "GA"
    words = [w for w in text.split(" ") if w not in _LABELS]
    if words and words[-1] == "GA" and len(words) > 1:
        words = words[:-1]  # "Timbers Army GA" is the Timbers Army standing section
    named = next((_NAMED[w] for w in words if w in _NAMED), None)
    codes = [w for w in words if _CODE.match(w) and w not in _FILLER]
    if named is not None:
        if named == "GA":
            return "GA"
        code = next((c for c in reversed(codes) if c not in _NAMED), None)
        return f"{named} {code}" if code else named
    numeric = [c for c in codes if any(ch.isdigit() for ch in c)]
    if numeric:
        return numeric[-1]
    if not words or all(w in _UNKNOWN for w in words):
        return UNKNOWN_SECTION
    return " ".join(words)


_ROW_WORDS = re.compile(r"^(?:ROW\s*[:#.]?\s*(?=\S)|R(?=\d))")


@functools.lru_cache(maxsize=65536)
def row(raw: str | int | None) -> str | None:
    """Canonical row: "Row AA" -> "AA", "row 05" -> "5", "GA"/""/None -> None."""
    if raw is None:
        return None
    text = _SPACES.sub(" ", str(raw).upper()).strip()
    text = _ROW_WORDS.sub("", text, count=1)
    text = text.strip(" .#:-")
    if text in ("", "GA", "NA", "N/A", "TBD", "NONE", "NULL", "-", "*", "GENERAL ADMISSION"):
        return None
    if text.isdigit():
        return str(int(text))
    return text


@functools.lru_cache(maxsize=65536)
def _seats_text(raw: str) -> str | None:
    parts = [p.strip() for p in re.split(r"[,\s;]+", raw) if p.strip()]
    if not parts:
        return None
    if len(parts) == 1 and "-" in parts[0]:
        return parts[0]
    if all(p.isdigit() for p in parts):
        numbers = [int(p) for p in parts]
        if len(numbers) > 1 and numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return f"{numbers[0]}-{numbers[-1]}"
        return ",".join(str(n) for n in numbers)
    if any(not any(ch.isdigit() for ch in p) and len(p) > 3 for p in parts):
        return None  # "General Admission", "TBD"
    return ",".join(parts)


def seats(raw: Any) -> str | None:
    """Seat numbers as "5-8" (consecutive) or "5,7"; None when not disclosed."""
    if raw is None:
        return None
    if isinstance(raw, list | tuple):
        if not raw:
            return None
        return _seats_text(",".join(map(str, raw)))
    return _seats_text(str(raw))


@functools.lru_cache(maxsize=4096)
def _splits(raw: tuple[Any, ...]) -> str | None:
    values = sorted({v for v in (to_int(x) for x in raw) if v is not None and v > 0})
    return ",".join(map(str, values)) if values else None


def splits(raw: Any) -> str | None:
    """Allowed purchase sizes as "1,2,4" (sorted, unique); None = any."""
    if not raw:
        return None
    if isinstance(raw, str):
        return _splits(tuple(raw.split(",")))
    if isinstance(raw, list | tuple):
        try:
            return _splits(tuple(raw))
        except TypeError:  # unhashable members
            return None
    return None


# --- delivery and category ----------------------------------------------------------------

_DELIVERY_WORDS = {
    "mobile": "mobile", "mobile_transfer": "mobile", "mobile transfer": "mobile",
    "mobile_ticket": "mobile", "instant": "instant", "instant_download": "instant",
    "instant download": "instant", "electronic": "electronic", "eticket": "electronic",
    "e-ticket": "electronic", "pdf": "electronic", "print_at_home": "electronic",
    "flash_seats": "mobile", "will_call": "will_call", "will call": "will_call",
    "willcall": "will_call", "pickup": "will_call", "physical": "physical", "ups": "physical",
    "fedex": "physical", "shipped": "physical", "paper": "physical",
    "standard_shipping": "physical",
}
#: StubHub's numeric delivery type ids (legacy inventory API).
_STUBHUB_DELIVERY = {1: "electronic", 2: "instant", 3: "physical", 4: "will_call",
                     5: "physical", 6: "physical", 7: "will_call", 8: "will_call",
                     9: "electronic", 10: "mobile", 11: "mobile", 12: "mobile"}


def delivery(raw: Any) -> str:
    """One of ``storage.records.DELIVERIES`` from a name, StubHub id, or list of them."""
    if isinstance(raw, list | tuple):
        for item in raw:
            found = delivery(item)
            if found != "unknown":
                return found
        return "unknown"
    if isinstance(raw, bool) or raw is None or not isinstance(raw, int | str):
        return "unknown"
    return _delivery(raw)


@functools.lru_cache(maxsize=1024)
def _delivery(raw: int | str) -> str:
    if isinstance(raw, int):
        return _STUBHUB_DELIVERY.get(raw, "unknown")
    text = raw.strip().lower()
    if text.isdigit():
        return _STUBHUB_DELIVERY.get(int(text), "unknown")
    return _DELIVERY_WORDS.get(text, _DELIVERY_WORDS.get(text.replace("-", "_"), "unknown"))


_CATEGORIES = (
    ("basketball", "basketball"), ("nba", "basketball"), ("wnba", "basketball"),
    ("ncaa_basketball", "basketball"), ("football", "football"), ("nfl", "football"),
    ("baseball", "baseball"), ("mlb", "baseball"), ("hockey", "hockey"), ("nhl", "hockey"),
    ("soccer", "soccer"), ("mls", "soccer"), ("nwsl", "soccer"), ("comedy", "comedy"),
    ("theatre", "theatre"), ("theater", "theatre"), ("broadway", "theatre"),
    ("musical", "theatre"), ("concert", "concert"), ("music", "concert"), ("band", "concert"),
    ("festival", "festival"), ("family", "family"), ("golf", "golf"), ("tennis", "tennis"),
    ("wrestling", "wrestling"), ("boxing", "boxing"), ("mma", "mma"), ("racing", "racing"),
)


def category(*names: Any) -> str | None:
    """A coarse category ("basketball", "concert", ...) from marketplace category names."""
    texts = [str(n).lower() for n in names if n]
    for key, value in _CATEGORIES:
        if any(key in t for t in texts):
            return value
    if texts:
        return texts[0].replace(" tickets", "").strip() or None
    return None


# --- time ---------------------------------------------------------------------------------

_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


@functools.lru_cache(maxsize=16384)
def parse_time(raw: str | None) -> datetime | None:
    """ISO-8601 -> aware UTC datetime; naive values are UTC (SeatGeek's ``datetime_utc``).

    None for missing, unreadable or impossible values (before 1990 or 20 years ahead).
    """
    if not raw or not isinstance(raw, str):
        return None
    text = raw.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value < _EARLIEST or value > datetime.now(UTC) + timedelta(days=365 * 20):
        return None
    return value
