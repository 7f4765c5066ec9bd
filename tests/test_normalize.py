"""Normalisation: the same seat compares across marketplaces; money is exact."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crawler import normalize


@pytest.mark.parametrize("raw", ["Sec 112", "112", "Section 112", "LOWER 112",
                                 "Lower Center 112", "section  112", "Sec. 112"])
def test_bowl_section_spellings_agree(raw: str) -> None:
    assert normalize.section(raw) == "112"


@pytest.mark.parametrize(("raw", "expected"), [
    ("Floor B", "FLOOR B"), ("FLOOR", "FLOOR"), ("Section Floor A", "FLOOR A"),
    ("Courtside 1", "COURTSIDE 1"), ("Club Level 2", "CLUB 2"), ("CLUB 201", "CLUB 201"),
    ("General Admission", "GA"), ("GA", "GA"), ("Ga", "GA"),
    ("Balcony", "BALCONY"), ("Section Orchestra Left", "ORCHESTRA LEFT"),
    ("Timbers Army GA", "TIMBERS ARMY"), ("Suite 12", "SUITE 12"), ("112A", "112A"),
])
def test_named_sections(raw: str, expected: str) -> None:
    assert normalize.section(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "N/A", "TBD", "???", "  "])
def test_unknown_section_is_empty(raw: str | None) -> None:
    assert normalize.section(raw) == normalize.UNKNOWN_SECTION


@pytest.mark.parametrize(("raw", "expected"), [
    ("Row AA", "AA"), ("AA", "AA"), ("row 05", "5"), ("12", "12"), ("ROW12", "12"),
    ("R12", "12"), ("RR", "RR"), ("GA", None), ("", None), (None, None), (7, "7"),
])
def test_rows(raw: object, expected: str | None) -> None:
    assert normalize.row(raw) == expected


@pytest.mark.parametrize(("raw", "cents"), [
    (93.25, 9325), ("93.25", 9325), (76.5, 7650), (3, 300), ("3", 300), (15.37, 1537),
    ("$1,234.50", 123450), (0.1 + 0.2, 30), (Decimal("19.99"), 1999), (1.005, 101),
    (245.99999999999977, 24600), (None, None), ("abc", None), (True, None),
    (float("nan"), None),
])
def test_money_is_exact(raw: object, cents: int | None) -> None:
    assert normalize.to_cents(raw) == cents


def test_money_matches_decimal_for_every_two_decimal_price() -> None:
    for cents in range(0, 2_000_001, 7):
        assert normalize.to_cents(cents / 100) == cents
        assert normalize.to_cents(f"{cents / 100:.2f}") == cents


@pytest.mark.parametrize(("raw", "expected"), [
    (["1", "2"], "1-2"), ("11,12,13,14", "11-14"), ([5, 7], "5,7"), ("General Admission", None),
    ([], None), (None, None), (["GA1", "GA2"], "GA1,GA2"),
])
def test_seats(raw: object, expected: str | None) -> None:
    assert normalize.seats(raw) == expected


def test_splits_delivery_and_time() -> None:
    assert normalize.splits([4, 2, 2]) == "2,4"
    assert normalize.splits("1,2") == "1,2"
    assert normalize.splits(None) is None
    assert normalize.delivery([1]) == "electronic"
    assert normalize.delivery("Mobile") == "mobile"
    assert normalize.delivery(11) == "mobile"
    assert normalize.delivery("carrier pigeon") == "unknown"
    assert normalize.parse_time("2017-08-14T02:00:00").isoformat() == "2017-08-14T02:00:00+00:00"
    assert normalize.parse_time("2016-08-18T17:00:00-04:00").hour == 21
    assert normalize.parse_time("2026-13-45T99:99:99Z") is None
    assert normalize.parse_time("1900-01-01T00:00:00Z") is None
