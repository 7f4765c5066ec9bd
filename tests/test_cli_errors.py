"""Operational errors are one line that says what to do, not a traceback, and leave nothing
running: a port taken (the API, the sandbox, the embedded PostgreSQL's TCP port), the data
directory locked, the database unreachable, Ray unavailable, a socket path too long, and a
network-exposed embedded server without a password (a configuration error)."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import filelock
import pytest

from bench.harness import free_port
from tests.commands import ROOT, Command, clean_env, still_running


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ripcity-err-") as root:
        yield Path(root) / "data"


def _fails_in_one_line(cmd: Command, *expected: str, code: int = 1) -> str:
    family = cmd.family()
    status, out = cmd.finish(120)
    assert status == code, out
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith(("error:", "configuration"))]
    assert len(errors) == 1, out
    for words in expected:
        assert words in errors[0], errors[0]
    assert still_running(family) == []
    return errors[0]


def _unreachable_db() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"


def test_api_port_taken(taken_port: int, data_dir: Path) -> None:
    for args in (("serve", "--port", str(taken_port)), ("run",)):
        cmd = Command(*args, env=clean_env(RIPCITY_API_PORT=str(taken_port),
                                           RIPCITY_DATA_DIR=str(data_dir)))
        try:
            _fails_in_one_line(cmd, f"port {taken_port}", "RIPCITY_API_PORT")
        finally:
            cmd.kill()
    assert not (data_dir / "pg").exists()  # it failed before starting anything


def test_sandbox_port_taken(taken_port: int, data_dir: Path) -> None:
    cmd = Command("run", "--no-api", env=clean_env(RIPCITY_SANDBOX_PORT=str(taken_port),
                                                    RIPCITY_DATA_DIR=str(data_dir)))
    try:
        _fails_in_one_line(cmd, f"port {taken_port}", "the sandbox", "RIPCITY_SANDBOX_PORT")
    finally:
        cmd.kill()


def test_embedded_tcp_port_taken(taken_port: int, data_dir: Path) -> None:
    cmd = Command("db", "status", env=clean_env(
        RIPCITY_DATA_DIR=str(data_dir), RIPCITY_EMBEDDED_PG_HOST="127.0.0.1",
        RIPCITY_EMBEDDED_PG_PORT=str(taken_port)))
    try:
        _fails_in_one_line(cmd, f"port {taken_port}", "RIPCITY_EMBEDDED_PG_PORT")
    finally:
        cmd.kill()


def test_data_directory_locked(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    # another process holds the lock (starting or stopping its server); we wait 1 s, not 120
    code = ("import sys, storage.embedded as e; e.LOCK_TIMEOUT_S = 1.0; "
            "sys.argv = ['ripcity', 'db', 'status']; from engine.cli import main; main()")
    with filelock.FileLock(str(data_dir / "pg.lock")):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, timeout=120,
                             env=clean_env(RIPCITY_DATA_DIR=str(data_dir)))
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert "is locked" in line and "RIPCITY_DATA_DIR" in line


@pytest.mark.parametrize("args", [("serve",), ("run", "--no-api"),
                                  ("alerts", "dispatch", "--channels", "email")],
                         ids=["serve", "run", "alerts-dispatch"])
def test_database_unreachable(args: tuple[str, ...]) -> None:
    cmd = Command(*args, env=clean_env(RIPCITY_DATABASE_URL=_unreachable_db(),
                                       RIPCITY_API_PORT=str(free_port())))
    try:
        _fails_in_one_line(cmd, "cannot reach the database", "RIPCITY_DATABASE_URL")
    finally:
        cmd.kill()


def test_ray_unavailable(db_url: str) -> None:
    address = f"127.0.0.1:{free_port()}"
    cmd = Command("run", "--no-api", "--ray-address", address, env=clean_env(
        RIPCITY_DATABASE_URL=db_url, RIPCITY_SANDBOX_PORT="0", RIPCITY_SANDBOX_EVENTS="2"))
    try:
        cmd.wait_for("starting: database")
        line = _fails_in_one_line(cmd, f"no Ray cluster answers at {address}",
                                  "RIPCITY_RAY_ADDRESS")
        assert "ray start --head" in line
    finally:
        cmd.kill()


def test_socket_path_too_long() -> None:
    with tempfile.TemporaryDirectory() as root:
        deep = Path(root, *(["a-rather-long-directory-name"] * 4))
        cmd = Command("db", "status", env=clean_env(RIPCITY_DATA_DIR=str(deep)))
        try:
            _fails_in_one_line(cmd, "socket path", "RIPCITY_DATA_DIR to a shorter path")
        finally:
            cmd.kill()


def test_exposed_embedded_server_needs_a_password(data_dir: Path) -> None:
    cmd = Command("db", "status", env=clean_env(RIPCITY_DATA_DIR=str(data_dir),
                                                RIPCITY_EMBEDDED_PG_HOST="0.0.0.0"))
    try:
        _fails_in_one_line(cmd, "RIPCITY_EMBEDDED_PG_PASSWORD", code=2)
    finally:
        cmd.kill()
