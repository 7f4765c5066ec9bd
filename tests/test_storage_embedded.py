"""The embedded default: PostgreSQL 18 from the wheel on 127.0.0.1, data kept across runs,
a running server reused, concurrent starters safe, stopped cleanly."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bench.harness import free_port
from storage.embedded import _running_postmaster, start_embedded, stop_embedded

pytestmark = pytest.mark.slow

_START = ("import sys; from storage.embedded import start_embedded; "
          "print(start_embedded(sys.argv[1], int(sys.argv[2])))")


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's 0700 temp root: run as root, the server's own user must reach it."""
    path = Path(tempfile.mkdtemp(prefix="ripcity-embedded-"))
    try:
        yield path / "data"
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_start_reuse_concurrent_and_stop(data_dir: Path) -> None:
    port = free_port()
    data = data_dir
    # two processes start it at once: one initialises and starts, the other reuses it
    procs = [subprocess.Popen([sys.executable, "-c", _START, str(data), str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    try:
        outs = [p.communicate(timeout=180) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        urls = {o[0].strip() for o in outs}
        assert urls == {f"postgresql://postgres@127.0.0.1:{port}/ripcity"}
        first = _running_postmaster(data / "pg")
        assert first is not None and first[1] == port

        url = start_embedded(data, port)  # reuse: same server, same pid
        assert _running_postmaster(data / "pg") == first
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("18")
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (42)")
    finally:
        assert stop_embedded(data) in (True, False)
    assert _running_postmaster(data / "pg") is None
    assert stop_embedded(data) is False

    url = start_embedded(data, port)  # data survives a restart
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT x FROM kept").fetchone()[0] == 42
    finally:
        stop_embedded(data)


def test_only_the_process_that_started_the_server_stops_it(data_dir: Path) -> None:
    from storage.embedded import stop_started_here

    port = free_port()
    # another process starts it (and exits without stopping it, as `ripcity db migrate` does)
    out = subprocess.run([sys.executable, "-c", _START, str(data_dir), str(port)],
                         capture_output=True, text=True, timeout=180, check=True)
    assert out.stdout.strip().endswith(f":{port}/ripcity")
    try:
        start_embedded(data_dir, port)  # reused here: not ours to stop
        assert stop_started_here() == []
        assert _running_postmaster(data_dir / "pg") is not None
        stop_embedded(data_dir)

        start_embedded(data_dir, port)  # started here: stopped on the way out
        assert stop_started_here() == [data_dir.resolve()]
        assert _running_postmaster(data_dir / "pg") is None
    finally:
        stop_embedded(data_dir)
