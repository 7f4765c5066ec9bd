"""The embedded default: PostgreSQL 18 from the wheel, on a Unix socket in the data directory
(TCP only when asked, with a password beyond loopback), data kept across runs, a running
server reused, concurrent starters safe, stopped by the last live process that used it, and
a server left by a crashed owner adopted and stopped by the next one."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from bench.harness import free_port
from storage.embedded import (
    EmbeddedServerError,
    release_embedded,
    running_server,
    start_embedded,
)

pytestmark = pytest.mark.slow

# a process that starts (or reuses) the server, says so, and exits when its stdin closes
_USER = ("import sys; from storage.embedded import start_embedded; "
         "print(start_embedded(sys.argv[1]), flush=True); sys.stdin.read()")


@pytest.fixture
def data_dir(embedded_data_dir: Path) -> Path:
    return embedded_data_dir


def _user(data: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _USER, str(data)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _url_of(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, proc.stderr.read() if proc.stderr else ""
    return line


def _leave(proc: subprocess.Popen[str]) -> None:
    """The user process exits normally (its exit releases the server)."""
    proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_socket_only_shared_and_stopped_by_the_last_user(data_dir: Path) -> None:
    # two processes start it at once: one initialises and starts, the other reuses it
    users = [_user(data_dir), _user(data_dir)]
    try:
        urls = {_url_of(p) for p in users}
        sock = data_dir.resolve() / "pg"
        assert urls == {f"postgresql://postgres@/ripcity?host={sock}&port=5432"}
        server = running_server(data_dir)
        assert server is not None and server.listen == ""  # no TCP listener at all
        assert server.socket_dir == str(sock)

        url = start_embedded(data_dir)  # this process is the third user: same server
        assert running_server(data_dir) == server
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("18")
            assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (42)")

        _leave(users[0])  # the starter leaves: the others still use it
        _leave(users[1])
        assert running_server(data_dir) == server
        assert release_embedded() == [data_dir.resolve()]  # the last user stops it
        assert running_server(data_dir) is None
    finally:
        for p in users:
            p.kill()

    url = start_embedded(data_dir)  # data survives a restart
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone()[0] == 42
    assert release_embedded() == [data_dir.resolve()]


def test_a_crashed_owners_server_is_adopted_and_stopped(
        data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    owner = _user(data_dir)
    _url_of(owner)
    os.kill(owner.pid, signal.SIGKILL)  # crashes: nothing of it runs its clean-up
    owner.wait(10)
    orphan = running_server(data_dir)
    assert orphan is not None

    with caplog.at_level(logging.WARNING, logger="storage.embedded"):
        start_embedded(data_dir)
    assert "left running by a process that is gone" in caplog.text
    assert running_server(data_dir) == orphan  # adopted, not restarted
    assert release_embedded() == [data_dir.resolve()]
    assert running_server(data_dir) is None


def test_tcp_only_when_asked_and_with_a_password_beyond_loopback(data_dir: Path) -> None:
    port = free_port()
    with pytest.raises(EmbeddedServerError, match="RIPCITY_EMBEDDED_PG_PASSWORD"):
        start_embedded(data_dir, port, host="0.0.0.0")
    url = start_embedded(data_dir, port, host="0.0.0.0", password="correct horse")
    assert "correct%20horse@" in url and f":{port}/ripcity" in url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(f"postgresql://postgres:wrong@127.0.0.1:{port}/ripcity")
    with pytest.raises(EmbeddedServerError, match=r"already runs .* not as configured"):
        start_embedded(data_dir)  # asked for the socket alone while it listens on TCP
    assert release_embedded() == [data_dir.resolve()]


def test_the_tests_and_benchmarks_fall_back_to_an_embedded_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With no RIPCITY_TEST_DATABASE_URL and nothing on 127.0.0.1:5432, the fixtures and
    benchmarks create their databases on an embedded server of their own."""
    import bench.harness as harness

    monkeypatch.delenv("RIPCITY_DATABASE_URL", raising=False)
    monkeypatch.setattr(harness, "LOCAL_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    with harness.scratch_database("ripcity_fallback") as url:
        assert "?host=/" in url  # the embedded server's Unix socket
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0
        socket_dir = url.split("host=", 1)[1].split("&", 1)[0]
    assert not Path(socket_dir).exists()  # stopped and removed afterwards
