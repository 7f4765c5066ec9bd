"""Price history (``storage.history``) carries listings forward between change-only
snapshots; hourly rollups; and the raw reads the storage tests check ingest with
(``tests.listing_reads``): listings by price with a keyset cursor, get-in per marketplace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storage.history import (
    PricePoint,
    event_history,
    price_history,
    refresh_hourly_rollups,
    section_history,
)
from storage.ingest import upsert_events, write_snapshots
from storage.records import EventRecord
from tests.fixtures_db import listing_batch
from tests.listing_reads import event_listings, get_in_prices

T0 = datetime(2026, 11, 24, 20, tzinfo=UTC)
H = timedelta(hours=1)


def seed_history(conn: psycopg.Connection) -> int:
    """a, b on SeatGeek and t on Ticketmaster at T0; b drops at T0+1h; a is gone at T0+2h."""
    ids = upsert_events(conn, [
        EventRecord(marketplace="seatgeek", source_event_id="SG1", name="Blazers vs Suns",
                    starts_at=T0 + 48 * H, venue_name="Moda Center"),
        EventRecord(marketplace="ticketmaster", source_event_id="TM1", name="Blazers vs Suns",
                    starts_at=T0 + 48 * H, venue_name="Moda Center",
                    cross_refs=(("seatgeek", "SG1"),)),
    ])
    sg = {"marketplace": "seatgeek", "source_event_id": "SG1", "fees_cents": 2_000}
    tm = {"marketplace": "ticketmaster", "source_event_id": "TM1", "fees_cents": 0,
          "section": "301"}
    crawls = [
        (T0, [{**sg, "listing_id": "a", "price_cents": 10_000},
              {**sg, "listing_id": "b", "price_cents": 20_000}]),
        (T0 + H, [{**sg, "listing_id": "a", "price_cents": 10_000},
                  {**sg, "listing_id": "b", "price_cents": 15_000}]),
        (T0 + 2 * H, [{**sg, "listing_id": "b", "price_cents": 15_000}]),
    ]
    for at, rows in crawls:
        write_snapshots(conn, listing_batch([{**r, "observed_at": at} for r in rows]),
                        complete=True, touch_interval_s=0)
    write_snapshots(conn, listing_batch([{**tm, "listing_id": "t", "price_cents": 9_000,
                                          "observed_at": T0}]), touch_interval_s=0)
    conn.commit()
    return ids[("seatgeek", "SG1")]


def test_price_history_per_marketplace_carries_listings_forward(
    db: psycopg.Connection
) -> None:
    event = seed_history(db)
    points = price_history(db, event, T0, T0 + 3 * H, by="marketplace", marketplace="seatgeek")
    got = [(p.bucket - T0, p.min_cents, p.median_cents, p.max_cents, p.listings)
           for p in points]
    assert got == [
        (0 * H, 12_000, 17_000, 22_000, 2),
        (1 * H, 12_000, 14_500, 17_000, 2),
        (2 * H, 17_000, 17_000, 17_000, 1),  # a is gone, b carried forward
    ]


def test_price_history_merged_and_per_section(db: psycopg.Connection) -> None:
    event = seed_history(db)
    merged = price_history(db, event, T0, T0 + 3 * H, by="merged")
    assert [(p.bucket - T0, p.marketplace, p.min_cents, p.listings) for p in merged] == [
        (0 * H, None, 9_000, 3), (1 * H, None, 9_000, 3), (2 * H, None, 9_000, 2)]
    sections = section_history(db, event, T0, T0 + H)
    assert [(p.section, p.min_cents, p.listings) for p in sections] == [
        ("112", 12_000, 2), ("301", 9_000, 1)]


def test_listings_by_price_with_cursor_and_get_in(db: psycopg.Connection) -> None:
    event = seed_history(db)
    first = event_listings(db, event, limit=1)
    assert [(r.listing_id, r.total_cents) for r in first] == [("t", 9_000)]
    after = (first[-1].total_cents, first[-1].marketplace, first[-1].listing_id)
    rest = event_listings(db, event, after=after)
    assert [r.listing_id for r in rest] == ["b"]  # a is gone
    assert [r.listing_id for r in event_listings(db, event, include_gone=True)] == [
        "t", "a", "b"]
    assert [(g.marketplace, g.min_total_cents, g.listings) for g in get_in_prices(db, event)] \
        == [("ticketmaster", 9_000, 1), ("seatgeek", 17_000, 1)]


def test_hourly_rollups(db: psycopg.Connection) -> None:
    event = seed_history(db)
    assert refresh_hourly_rollups(db, event, T0, T0 + 3 * H) == 6
    assert refresh_hourly_rollups(db, event, T0, T0 + 3 * H) == 6  # replaces, no duplicates
    rows = db.execute(
        "SELECT bucket, marketplace, section, min_total_cents, listing_count "
        "FROM listing_rollups_hourly ORDER BY 1, 2").fetchall()
    assert [(b - T0, mk, s, m, n) for b, mk, s, m, n in rows] == [
        (0 * H, "seatgeek", "112", 12_000, 2), (0 * H, "ticketmaster", "301", 9_000, 1),
        (1 * H, "seatgeek", "112", 12_000, 2), (1 * H, "ticketmaster", "301", 9_000, 1),
        (2 * H, "seatgeek", "112", 17_000, 1), (2 * H, "ticketmaster", "301", 9_000, 1)]


async def test_event_history_serves_rolled_up_hours_from_the_rollups(
    db: psycopg.Connection
) -> None:
    event = seed_history(db)
    refresh_hourly_rollups(db, event, T0, T0 + 2 * H)  # hours 0 and 1; hour 2 is not
    db.commit()
    live = price_history(db, event, T0, T0 + 3 * H)
    async with await psycopg.AsyncConnection.connect(db.info.dsn, autocommit=True) as conn:
        served = await event_history(conn, event, H, T0, T0 + 3 * H, section=None,
                                     marketplace=None, merged=False)
    # rolled-up buckets carry no ticket count: that is how to tell where each came from
    assert [p.tickets is None for p in served] == [p.bucket < T0 + 2 * H for p in served]

    def point(p: PricePoint) -> tuple[object, ...]:
        return (p.bucket, p.marketplace, p.min_cents, p.median_cents, p.max_cents, p.listings)

    assert [point(p) for p in served] == [point(p) for p in live]


@pytest.mark.parametrize("bucket", [timedelta(minutes=15), timedelta(days=1)])
def test_other_bucket_widths(db: psycopg.Connection, bucket: timedelta) -> None:
    event = seed_history(db)
    points = price_history(db, event, T0, T0 + 3 * H, bucket=bucket, by="merged")
    assert points and all(p.min_cents == 9_000 for p in points)
