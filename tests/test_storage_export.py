"""Parquet export / import round trip of listing snapshots."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pyarrow.parquet as pq

from storage.export import SNAPSHOT_SCHEMA, export_snapshots, import_snapshots
from tests.test_storage_history import T0, seed_history


def _snapshots(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT observed_at, marketplace, listing_id, total_cents, section, quantity "
        "FROM listing_snapshots ORDER BY 1, 2, 3").fetchall()


def test_export_import_round_trip(db: psycopg.Connection, tmp_path: Path) -> None:
    seed_history(db)
    before = _snapshots(db)
    path = tmp_path / "snapshots.parquet"
    seen: list[int] = []
    assert export_snapshots(db, path, since=T0 - timedelta(days=1), progress=seen.append) \
        == len(before)
    assert sum(seen) == len(before)
    table = pq.read_table(path)
    assert table.schema.equals(SNAPSHOT_SCHEMA)
    assert table.column("observed_at").type.tz == "UTC"

    db.execute("DELETE FROM listing_snapshots")
    db.commit()
    assert import_snapshots(db, path) == len(before)
    assert import_snapshots(db, path) == 0  # already there: nothing duplicated
    db.commit()
    assert _snapshots(db) == before


def test_export_of_an_empty_range(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    assert export_snapshots(db, path, since=T0, until=T0 + timedelta(hours=1)) == 0
    assert pq.read_table(path).num_rows == 0
