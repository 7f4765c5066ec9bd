"""An event's listings page by page, as ``storage.listings.event_listings`` serves the API and
the event page: every listing once, in one order, whichever of a sort's runs (by deal: the
scored listings through the per-event deals index, then the unscored ones) a page spans."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from storage.listings import ListingFilter, event_listings
from tests.fixtures_api import seed


def _pages(url: str, event_id: int, f: ListingFilter, sort: str, limit: int
           ) -> list[list[tuple[str, str]]]:
    async def run() -> list[list[tuple[str, str]]]:
        pages, after = [], None
        async with await psycopg.AsyncConnection.connect(url) as conn:
            while True:
                rows = await event_listings(conn, event_id, f, sort, limit, after)
                pages.append([(r.marketplace, r.listing_id) for r in rows[:limit]])
                if len(rows) <= limit:
                    return pages
                last = rows[limit - 1]
                after = [last.sort_key, last.marketplace, last.listing_id]

    return asyncio.run(run())


@pytest.fixture()
def scored_in_part(db_url: str) -> tuple[str, int]:
    """One event's 40 listings: a quarter unscored, the scored ones with ties."""
    world = seed(db_url, events=1, listings=40)
    with psycopg.connect(db_url) as conn:
        conn.execute("""UPDATE listings_current
                        SET deal_score = CASE WHEN right(listing_id, 1) IN ('0', '4') THEN NULL
                                              WHEN right(listing_id, 1) IN ('1', '7') THEN 50
                                              ELSE deal_score END""")
    return db_url, world.event_ids[0]


def _expected(url: str, event_id: int, sort: str, where: str = "true") -> list[tuple[str, str]]:
    key = "total_cents" if sort == "price" else "-coalesce(deal_score, -1000000)::float8"
    with psycopg.connect(url) as conn:
        rows: list[Any] = conn.execute(
            f"""SELECT marketplace, listing_id FROM listings_current
                WHERE event_id = %s AND gone_at IS NULL AND {where}
                ORDER BY {key}, marketplace, listing_id""", (event_id,)).fetchall()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("limit", [1, 7, 10, 40, 100])
def test_pages_by_deal_cover_scored_then_unscored_listings_once_in_order(
        scored_in_part: tuple[str, int], limit: int) -> None:
    url, event_id = scored_in_part
    want = _expected(url, event_id, "deal")
    assert len(want) == 40
    pages = _pages(url, event_id, ListingFilter(), "deal", limit)
    got = [key for page in pages for key in page]
    assert got == want
    assert all(len(page) == limit for page in pages[:-1])


def test_filtered_pages_by_deal_and_by_price_keep_their_order(
        scored_in_part: tuple[str, int]) -> None:
    url, event_id = scored_in_part
    two = ListingFilter(quantity=2)
    wants_two = ("quantity >= 2 AND (splits IS NULL OR splits = '' "
                 "OR '2' = ANY(string_to_array(replace(splits, ' ', ''), ',')))")
    for sort in ("deal", "price"):
        got = [k for page in _pages(url, event_id, two, sort, 6) for k in page]
        assert got == _expected(url, event_id, sort, wants_two) and got
