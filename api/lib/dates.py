"""Dates from requests, bounded before they reach arithmetic or SQL.

Python's ``datetime`` ends at year 9999 and PostgreSQL's ``timestamptz`` has its own range;
a date near either end overflows as soon as it is shifted (a time zone, "one day later",
"48 buckets before"). Every date a request carries goes through :func:`bounded`, which
answers a 422 naming the field when it lies outside the years this service deals in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from api.lib.errors import FieldError, InvalidInput

#: the years a date in a request may fall in (tickets are sold for the near past and future)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _out_of_range(field: str, source: str) -> InvalidInput:
    message = (f"must be between {EARLIEST.date().isoformat()} and "
               f"{LATEST.date().isoformat()}")
    return InvalidInput(f"Invalid value for {field}: {message}", errors=[FieldError(
        field=field, message=message, source=source)])


def check_bounds(value: datetime | date, field: str, source: str = "query") -> None:
    """Raise a 422 naming ``field`` unless ``value`` lies within [EARLIEST, LATEST)."""
    day = value.date() if isinstance(value, datetime) else value
    # compare by calendar day first: the instant of an extreme date cannot be computed
    if not EARLIEST.date() <= day < LATEST.date():
        raise _out_of_range(field, source)


def bounded(value: datetime | None, field: str, source: str = "query") -> datetime | None:
    """``value`` in UTC (a date without an offset is read as UTC), or None; a 422 naming
    ``field`` when it lies outside the years this service deals in."""
    if value is None:
        return None
    check_bounds(value, field, source)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
