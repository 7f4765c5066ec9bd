"""Schema migrations: numbered SQL files applied in order, each in its own transaction.

Applied files are recorded with a checksum in ``schema_migrations``; a database whose
record differs from the files (an edited or missing migration) is refused, because silently
running on a schema that does not match the code corrupts data later in harder ways.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 72_011_001  # pg_advisory_lock key: one migrator at a time per database

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""


class MigrationError(RuntimeError):
    """The database's recorded migrations do not match ``storage/migrations``."""


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"


@dataclasses.dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; a badly named file is an error, not skipped."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(
                f"{path}: migration files must be named NNNN_lowercase_name.sql; rename it"
            )
        found.append(Migration(int(m.group(1)), m.group(2), path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migration files share a version number")
    return found


def applied_migrations(conn: psycopg.Connection) -> list[AppliedMigration]:
    """What the database says was applied (empty for a database never migrated)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
    ).fetchall()
    return [AppliedMigration(*r) for r in rows]


def check_migrations(
    applied: list[AppliedMigration], files: list[Migration]
) -> list[Migration]:
    """Return the pending files; raise ``MigrationError`` if history and files disagree."""
    by_version = {m.version: m for m in files}
    for a in applied:
        f = by_version.get(a.version)
        if f is None:
            raise MigrationError(
                f"the database has migration {a.version:04d}_{a.name} but no such file exists "
                f"in {MIGRATIONS_DIR}: this code is older than the database; upgrade the code "
                "or use another database"
            )
        if f.checksum != a.checksum:
            raise MigrationError(
                f"migration {f.filename} changed after it was applied (checksum "
                f"{a.checksum[:12]} in the database, {f.checksum[:12]} on disk): restore the "
                "file and add a new migration instead, or `ripcity db reset --yes` to start over"
            )
    done = {a.version for a in applied}
    return [m for m in files if m.version not in done]


def migrate(conn: psycopg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations (idempotent); returns the ones applied now.

    Runs each file in its own transaction, under an advisory lock so concurrent starters
    (API and engine at once) do not race. Also keeps time partitions ahead of the clock.
    """
    from storage.partitions import ensure_partitions

    if conn.info.transaction_status != 0:  # not idle: finish the caller's work first
        conn.commit()
    previous = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(_CREATE_TABLE)
            pending = check_migrations(applied_migrations(conn), load_migrations(directory))
            for m in pending:
                logger.info("applying migration %(file)s", {"file": m.filename})
                with conn.transaction():
                    conn.execute(m.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
            now = datetime.now(UTC)
            with conn.transaction():
                ensure_partitions(conn, now - timedelta(days=2), now + timedelta(days=7))
            return pending
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    finally:
        conn.autocommit = previous
