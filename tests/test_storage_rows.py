"""``storage.db.record_row``: storage's rows become its dataclasses by position, exactly as
psycopg's ``class_row`` would build them by name, whatever order the columns come in."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.rows import class_row

from storage.db import record_row
from storage.listings import PagedListing


@dataclasses.dataclass(frozen=True, slots=True)
class _Price:
    listing_id: str
    total_cents: int
    seen: datetime | None = None


def _rows(conn: psycopg.Connection, factory: object, query: str) -> list[object]:
    with conn.cursor(row_factory=factory) as cur:  # type: ignore[call-overload]
        cur.execute(query)
        return cur.fetchall()


def test_rows_are_the_same_dataclasses_as_by_name_in_any_column_order(
        pg_server_url: str) -> None:
    in_order = ("SELECT 'a' AS listing_id, 1200 AS total_cents, "
                "'2026-12-05 01:00+00'::timestamptz AS seen")
    shuffled = ("SELECT '2026-12-05 01:00+00'::timestamptz AS seen, 1200 AS total_cents, "
                "'a' AS listing_id")
    want = _Price("a", 1200, datetime(2026, 12, 5, 1, tzinfo=UTC))
    with psycopg.connect(pg_server_url) as conn:
        for query in (in_order, shuffled):
            assert _rows(conn, record_row(_Price), query) == [want]
            assert _rows(conn, record_row(_Price), query) == _rows(conn, class_row(_Price),
                                                                    query)


def test_a_field_left_out_keeps_its_default_and_an_unknown_column_is_refused(
        pg_server_url: str) -> None:
    with psycopg.connect(pg_server_url) as conn:
        assert _rows(conn, record_row(_Price),
                     "SELECT 1200 AS total_cents, 'a' AS listing_id") == [_Price("a", 1200)]
        with pytest.raises(TypeError, match="other"):
            _rows(conn, record_row(_Price),
                  "SELECT 'a' AS listing_id, 1200 AS total_cents, NULL AS seen, 1 AS other")


def test_a_listing_page_row_reads_the_same_as_by_name(pg_server_url: str) -> None:
    """The API's hottest read (an event's listings: the buy link after the sort key, not in
    the dataclass's order) builds the same listing either way."""
    names = [f.name for f in dataclasses.fields(PagedListing)]
    values = {name: f"'{name}'" for name in names}
    values.update({"event_id": "7", "quantity": "2", "price_cents": "100",
                   "total_cents": "120", "first_seen": "now()", "last_changed": "now()",
                   "sort_key": "120", "deal_score": "NULL", "deal_rank": "NULL",
                   "fees_cents": "20", "fair_value_cents": "NULL"})
    order = [n for n in names if n != "buy_url"] + ["buy_url"]
    query = "SELECT " + ", ".join(f'{values[n]} AS "{n}"' for n in order)
    with psycopg.connect(pg_server_url) as conn, conn.transaction():
        ours = _rows(conn, record_row(PagedListing), query)
        theirs = _rows(conn, class_row(PagedListing), query)
    assert ours == theirs and ours[0].buy_url == "buy_url" and ours[0].sort_key == 120
