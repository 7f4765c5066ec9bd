"""Migrations: idempotent, refuse a database whose history differs from the files,
native partitions created ahead and dropped by retention."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from storage.migrate import MIGRATIONS_DIR, MigrationError, applied_migrations, migrate
from storage.partitions import apply_retention, ensure_partitions, timeseries_backend


def _partitions(db: psycopg.Connection, parent: str) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass ORDER BY 1", (parent,))]


def test_migrate_twice_applies_nothing_new(db: psycopg.Connection) -> None:
    before = applied_migrations(db)
    assert [m.version for m in before] == sorted(m.version for m in before)
    assert migrate(db) == []
    assert applied_migrations(db) == before
    assert timeseries_backend(db) in {"native", "timescaledb"}


def test_edited_migration_is_refused_with_a_clear_error(
    db: psycopg.Connection, tmp_path: Path
) -> None:
    edited = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, edited)
    first = sorted(edited.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after it was applied\n")
    with pytest.raises(MigrationError, match=rf"{first.name} changed after it was applied"):
        migrate(db, edited)


def test_database_newer_than_code_is_refused(db: psycopg.Connection, tmp_path: Path) -> None:
    older = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, older)
    sorted(older.glob("*.sql"))[-1].unlink()
    with pytest.raises(MigrationError, match="no such file"):
        migrate(db, older)


def test_native_partitions_ahead_and_retention(db: psycopg.Connection) -> None:
    if timeseries_backend(db) != "native":
        pytest.skip("this server has TimescaleDB: covered by test_storage_timescale")
    now = datetime.now(UTC)
    today = f"listing_snapshots_p{now:%Y%m%d}"
    ahead = f"listing_snapshots_p{now + timedelta(days=7):%Y%m%d}"
    assert {today, ahead} <= set(_partitions(db, "listing_snapshots"))

    old = now - timedelta(days=30)
    created = ensure_partitions(db, old, old + timedelta(days=1))
    assert created >= 2  # two days of snapshots (and that month of stats)
    assert ensure_partitions(db, old, old + timedelta(days=1)) == 0  # idempotent
    names = _partitions(db, "listing_snapshots")
    assert f"listing_snapshots_p{old:%Y%m%d}" in names
    assert f"listing_snapshots_p{old + timedelta(days=1):%Y%m%d}" in names

    dropped = apply_retention(db, days=10)
    names = _partitions(db, "listing_snapshots")
    assert dropped["partitions_dropped"] >= 2
    assert f"listing_snapshots_p{old:%Y%m%d}" not in names
    assert today in names


def test_a_partition_two_writers_need_at_once_is_created_once_and_neither_fails(
        db: psycopg.Connection, db_url: str) -> None:
    """The second writer waits for the first one's partition and then uses it (it used to
    create it again from a stale catalog cache: "relation ... already exists", its write
    lost with it)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    if timeseries_backend(db) != "native":
        pytest.skip("this server has TimescaleDB: chunks appear by themselves")
    day = datetime.now(UTC) - timedelta(days=40)
    with psycopg.connect(db_url) as first, psycopg.connect(db_url) as second, \
            psycopg.connect(db_url, autocommit=True) as watch, ThreadPoolExecutor(1) as pool:
        second.execute("SELECT to_regclass('listing_snapshots')")  # its catalog cache warm
        assert ensure_partitions(first, day, day) >= 1  # not committed yet: holds the lock
        waiting = pool.submit(ensure_partitions, second, day, day)
        for _ in range(200):  # until the second one waits for the first one's lock
            if watch.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                             "AND NOT granted").fetchone()[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the second writer never waited for the first one's lock")
        first.commit()
        assert waiting.result(timeout=30) == 0
        second.commit()
    assert f"listing_snapshots_p{day:%Y%m%d}" in _partitions(db, "listing_snapshots")
