"""TimescaleDB (PGlite 17 + TimescaleDB 2.23 over the wire): the same migrations produce
hypertables with compression and retention policies, and the query layer runs there.

The PGlite server takes one connection at a time and no COPY FROM STDIN, so data is seeded
with plain INSERTs here; policies run with CALL run_job (no background workers).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storage.history import price_history
from storage.ingest import upsert_events
from storage.partitions import apply_retention, timeseries_backend
from storage.records import EventRecord
from tests.listing_reads import event_listings, get_in_prices

pytestmark = pytest.mark.timescale

H = timedelta(hours=1)
T0 = (datetime.now(UTC) - 5 * H).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def ts(timescale_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(timescale_url, prepare_threshold=None) as conn:  # see the fixture
        yield conn


def test_hypertables_compression_and_policies(ts: psycopg.Connection) -> None:
    assert timeseries_backend(ts) == "timescaledb"
    tables = dict(ts.execute(
        "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables"
    ).fetchall())
    # product analytics are a hypertable too, retained but not compressed (small rows, read
    # by day on the operations page)
    assert tables == {"listing_snapshots": True, "event_price_stats": True,
                      "analytics_events": False}
    jobs = {(r[0], r[1]) for r in ts.execute(
        "SELECT proc_name, hypertable_name FROM timescaledb_information.jobs "
        "WHERE hypertable_name IS NOT NULL")}
    for table, compressed in tables.items():
        assert (("policy_compression", table) in jobs) == compressed
        assert ("policy_retention", table) in jobs
    segment = {r[0] for r in ts.execute(
        "SELECT attname FROM timescaledb_information.compression_settings "
        "WHERE hypertable_name = 'listing_snapshots' AND segmentby_column_index IS NOT NULL")}
    assert segment == {"event_id", "marketplace"}


def _seed(conn: psycopg.Connection) -> int:
    ids = upsert_events(conn, [EventRecord(
        marketplace="seatgeek", source_event_id="SG7", name="Blazers vs Jazz",
        starts_at=T0 + 72 * H, venue_name="Moda Center")])
    event = ids[("seatgeek", "SG7")]
    snaps = [(T0, "a", 12_000), (T0, "b", 20_000), (T0 + H, "b", 15_000)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO listing_snapshots (observed_at, event_id, marketplace, listing_id, "
            "source_event_id, section, quantity, price_cents, fees_cents, total_cents) "
            "VALUES (%s, %s, 'seatgeek', %s, 'SG7', '112', 2, %s, 0, %s)",
            [(at, event, lid, total, total) for at, lid, total in snaps])
        cur.executemany(
            "INSERT INTO listings_current (marketplace, listing_id, event_id, source_event_id, "
            "section, quantity, price_cents, total_cents, first_seen, last_seen, last_changed) "
            "VALUES ('seatgeek', %s, %s, 'SG7', '112', 2, %s, %s, %s, %s, %s)",
            [("a", event, 12_000, 12_000, T0, T0 + 2 * H, T0),
             ("b", event, 15_000, 15_000, T0, T0 + 2 * H, T0 + H)])
    conn.commit()
    return event


def test_queries_run_on_hypertables_including_compressed_chunks(
    ts: psycopg.Connection
) -> None:
    event = _seed(ts)
    expected = [(0 * H, 12_000, 20_000, 2), (1 * H, 12_000, 15_000, 2),
                (2 * H, 12_000, 15_000, 2)]
    points = price_history(ts, event, T0, T0 + 3 * H, by="merged")
    assert [(p.bucket - T0, p.min_cents, p.max_cents, p.listings) for p in points] == expected

    ts.execute("SELECT compress_chunk(c, if_not_compressed => true) "
               "FROM show_chunks('listing_snapshots') c")
    ts.commit()
    points = price_history(ts, event, T0, T0 + 3 * H, by="merged")
    assert [(p.bucket - T0, p.min_cents, p.max_cents, p.listings) for p in points] == expected
    assert [r.listing_id for r in event_listings(ts, event)] == ["a", "b"]
    assert [(g.marketplace, g.min_total_cents) for g in get_in_prices(ts, event)] == [
        ("seatgeek", 12_000)]


def test_retention_runs_as_a_job_and_on_demand(ts: psycopg.Connection) -> None:
    ts.execute(
        "INSERT INTO listing_snapshots (observed_at, event_id, marketplace, listing_id, "
        "source_event_id, quantity, price_cents, total_cents) "
        "VALUES (now() - interval '500 days', 1, 'seatgeek', 'old', 'SG7', 1, 1, 1)")
    ts.commit()
    job = ts.execute(
        "SELECT job_id FROM timescaledb_information.jobs "
        "WHERE proc_name = 'policy_retention' AND hypertable_name = 'listing_snapshots'"
    ).fetchone()[0]
    ts.execute("CALL run_job(%s)", (job,))
    ts.commit()
    assert ts.execute(
        "SELECT count(*) FROM listing_snapshots WHERE listing_id = 'old'").fetchone()[0] == 0

    ts.execute(
        "INSERT INTO listing_snapshots (observed_at, event_id, marketplace, listing_id, "
        "source_event_id, quantity, price_cents, total_cents) "
        "VALUES (now() - interval '40 days', 1, 'seatgeek', 'older', 'SG7', 1, 1, 1)")
    result = apply_retention(ts, days=30)
    ts.commit()
    assert result["chunks_dropped"] >= 1
    assert ts.execute(
        "SELECT count(*) FROM listing_snapshots WHERE listing_id = 'older'").fetchone()[0] == 0
