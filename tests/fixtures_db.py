"""Database fixtures (owned by the storage layer). Real PostgreSQL, never mocks.

- ``pg_server_url`` (session): a server to create databases on. RIPCITY_TEST_DATABASE_URL
  when set; else the local server at postgresql://postgres@127.0.0.1:5432/postgres if it
  answers; else the embedded PostgreSQL, started in a temp dir on a free port.
- ``db_url`` (function): the URL of a fresh, fully migrated database of its own
  (``ripcity_test_<uuid>``), dropped afterwards. Fast: cloned from a template database that
  is migrated once per session (``CREATE DATABASE ... TEMPLATE``).
- ``db`` (function): an open psycopg connection to ``db_url`` (autocommit off).
- ``embedded_data_dir`` (function): a fresh ``RIPCITY_DATA_DIR`` for an embedded server of
  its own, outside pytest's 0700 temp root (run as root, the server's own user must reach
  it); whatever server runs there is stopped and the directory removed afterwards.
- ``timescale_url`` (module): the PGlite + TimescaleDB server (``tests/pglite_server.mjs``)
  on a free port, migrated; one connection at a time, no COPY FROM STDIN. Skips when node
  is missing.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from bench.harness import pg_server, with_database
from storage.records import LISTING_SCHEMA

TESTS_DIR = Path(__file__).parent


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    with pg_server("RIPCITY_TEST_DATABASE_URL") as url:
        yield url


def _drop(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture(scope="session")
def db_template(pg_server_url: str) -> Iterator[str]:
    """Name of a migrated template database (one per test session / xdist worker)."""
    from storage.migrate import migrate

    name = f"ripcity_tpl_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(with_database(pg_server_url, name)) as conn:
            migrate(conn)
        yield name
    finally:
        _drop(pg_server_url, name)


@pytest.fixture
def db_url(pg_server_url: str, db_template: str) -> Iterator[str]:
    name = f"ripcity_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(db_template)))
    try:
        yield with_database(pg_server_url, name)
    finally:
        _drop(pg_server_url, name)


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url) as conn:
        yield conn


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    from storage.embedded import stop_embedded

    root = Path(tempfile.mkdtemp(prefix="ripcity-data-"))
    try:
        yield root / "data"
    finally:
        with contextlib.suppress(Exception):
            stop_embedded(root / "data")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def pglite_server() -> Iterator[str]:
    """Run tests/pglite_server.mjs on a free port; yields its URL (skips without node)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the TimescaleDB (PGlite) tests need it")
    if not (TESTS_DIR / "node_modules" / "@unni-craftsman" / "pglite").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("tests/node_modules missing and npm not installed: run `make setup`")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=TESTS_DIR, check=True, timeout=300)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([node, str(TESTS_DIR / "pglite_server.mjs"), "0"],
                                cwd=TESTS_DIR, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("LISTENING "):
                log.seek(0)
                raise RuntimeError(
                    f"pglite server did not start: {line!r} {log.read()[-2000:]!r}")
            port = int(line.split()[1])
            yield f"postgresql://postgres:pglite@127.0.0.1:{port}/postgres?sslmode=disable"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def timescale_url() -> Iterator[str]:
    from storage.migrate import migrate

    with pglite_server() as url:
        # PGlite is one backend behind every connection: psycopg's prepared statements
        # (named _pg3_0, ... per connection) would collide across connections
        with psycopg.connect(url, prepare_threshold=None) as conn:
            migrate(conn)
        yield url


_LISTING_DEFAULTS = {
    "marketplace": "seatgeek", "source_event_id": "SG1", "section": "112", "row": "5",
    "seats": None, "quantity": 2, "splits": None, "price_cents": 10_000, "fees_cents": 2_000,
    "currency": "USD", "delivery": "mobile", "kind": "resale", "zone": None,
}


def listing_batch(rows: list[dict[str, object]]) -> pa.RecordBatch:
    """A ``LISTING_SCHEMA`` batch from a few dicts; unspecified fields get plain defaults
    (``total_cents`` = price + fees unless given). Needs ``observed_at`` and ``listing_id``.
    """
    full = []
    for r in rows:
        row = {**_LISTING_DEFAULTS, **r}
        if "total_cents" not in r:
            p, f = row["price_cents"], row["fees_cents"]
            row["total_cents"] = None if p is None else p + (f or 0)
        full.append(row)
    return pa.RecordBatch.from_pylist(full, schema=LISTING_SCHEMA)


@pytest.fixture
def make_listings() -> Callable[[list[dict[str, object]]], pa.RecordBatch]:
    """Factory fixture for :func:`listing_batch`."""
    return listing_batch
