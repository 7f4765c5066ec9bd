"""An event's listings page by page, as ``storage.listings.event_listings`` serves the API and
the event page: every listing once, in one order, whichever of a sort's runs (by deal: the
scored listings through the per-event deals index, then the unscored ones) a page spans; and
the best deals across events (``storage.listings.best_deals``, the API's ``/deals``) the same
way, ties in score included."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from storage.events.filters import EventFilter
from storage.listings import ListingFilter, best_deals, event_listings
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


# -- best deals across events (storage.listings.best_deals, the API's /deals) ----------------

@pytest.fixture()
def deals_world(db_url: str) -> tuple[str, list[int]]:
    """Four events' listings with ties in score across events, a few unscored and a few
    gone; one event long past."""
    world = seed(db_url, events=4, listings=40)
    with psycopg.connect(db_url) as conn:
        conn.execute("""UPDATE listings_current SET deal_score = CASE
            WHEN right(listing_id, 1) = '0' THEN NULL
            WHEN right(listing_id, 1) = '1' THEN 75
            WHEN right(listing_id, 1) = '2' THEN 40
            ELSE deal_score END""")
        conn.execute("UPDATE listings_current SET gone_at = now() WHERE right(listing_id, 1) = '3'")
        conn.execute("UPDATE events SET starts_at = now() - interval '3 days' WHERE id = %s",
                     (world.event_ids[3],))
        conn.execute("ANALYZE listings_current")
    return db_url, world.event_ids


def _deal_pages(url: str, f: EventFilter, min_score: float | None, limit: int,
                event_ids: list[int] | None = None) -> list[tuple[str, str]]:
    async def run() -> list[tuple[str, str]]:
        got: list[tuple[str, str]] = []
        after = None
        async with await psycopg.AsyncConnection.connect(url) as conn:
            while True:
                rows = await best_deals(conn, f, min_score, limit, after, event_ids)
                got += [(r.marketplace, r.listing_id) for r in rows[:limit]]
                if len(rows) <= limit:
                    return got
                last = rows[limit - 1]
                after = [last.deal_score, last.marketplace, last.listing_id]

    return asyncio.run(run())


def _expected_deals(url: str, where: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows: list[Any] = conn.execute(
            f"""SELECT c.marketplace, c.listing_id FROM listings_current c
                JOIN events e ON e.id = c.event_id
                WHERE c.gone_at IS NULL AND c.deal_score IS NOT NULL
                  AND e.starts_at >= now() - interval '6 hours' AND {where}
                ORDER BY c.deal_score DESC, c.marketplace, c.listing_id""", params).fetchall()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("limit", [1, 7, 25, 500])
def test_best_deals_pages_cover_every_scored_listing_once_in_order(
        deals_world: tuple[str, list[int]], limit: int) -> None:
    url, _ = deals_world
    want = _expected_deals(url, "true", {})
    assert _deal_pages(url, EventFilter(), None, limit) == want and len(want) > 60


@pytest.mark.parametrize(("f", "min_score", "where"), [
    (EventFilter(marketplace="seatgeek"), None, "c.marketplace = 'seatgeek'"),
    (EventFilter(max_price=9000), None, "c.total_cents <= 9000"),
    (EventFilter(), 50, "c.deal_score >= 50"),
    (EventFilter(), 80, "c.deal_score >= 80"),
    (EventFilter(city="Portland"), 30, "e.venue_id IN (SELECT id FROM venues "
                                       "WHERE city = 'Portland') AND c.deal_score >= 30"),
])
def test_filtered_best_deals_keep_their_order(deals_world: tuple[str, list[int]],
                                              f: EventFilter, min_score: float | None,
                                              where: str) -> None:
    url, _ = deals_world
    want = _expected_deals(url, where, {})
    assert want and _deal_pages(url, f, min_score, 6) == want


def test_best_deals_among_chosen_events(deals_world: tuple[str, list[int]]) -> None:
    url, ids = deals_world
    chosen = [ids[0], ids[2]]
    want = _expected_deals(url, "c.event_id = ANY(%(ids)s)", {"ids": chosen})
    assert want and _deal_pages(url, EventFilter(), None, 9, chosen) == want
