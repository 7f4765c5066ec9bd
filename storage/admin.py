"""Database administration behind ``ripcity db``: what the server is, how many rows the main
tables hold, and a reset to an empty, migrated schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg import sql

from storage.migrate import migrate

if TYPE_CHECKING:
    from collections.abc import Sequence

    import psycopg

    from storage.migrate import Migration

_TABLE_EXISTS = "SELECT to_regclass(%s)"
_COUNT = "SELECT count(*) FROM {}"
_RESET = (
    "DROP EXTENSION IF EXISTS timescaledb CASCADE",
    "DROP SCHEMA public CASCADE",
    "CREATE SCHEMA public",
)


def server_version(conn: psycopg.Connection) -> str:
    """The PostgreSQL server's version, as ``SHOW server_version`` says it."""
    return conn.execute("SHOW server_version").fetchone()[0]


def row_counts(conn: psycopg.Connection, tables: Sequence[str]) -> dict[str, int]:
    """Rows in each of ``tables`` that exists (a table not created yet is left out)."""
    counts = {}
    for table in tables:
        if conn.execute(_TABLE_EXISTS, (table,)).fetchone()[0]:
            query = sql.SQL(_COUNT).format(sql.Identifier(table))
            counts[table] = conn.execute(query).fetchone()[0]
    return counts


def reset_database(conn: psycopg.Connection) -> list[Migration]:
    """Drop every table (and the TimescaleDB extension) and migrate from scratch; returns the
    migrations applied. All data is lost."""
    conn.autocommit = True
    for statement in _RESET:
        conn.execute(statement)
    conn.autocommit = False
    return migrate(conn)
