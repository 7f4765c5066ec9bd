"""What every benchmark shares: its command line and the one JSON line it prints, the
PostgreSQL server and scratch databases (found like the tests find theirs), the sandbox's
truth, and the clocks, CPU and memory measurements the benchmarks report."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import numpy as np
import psutil
import psycopg
from psycopg import sql

#: the server benchmarks use when RIPCITY_DATABASE_URL is not set and this one answers
LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


# -- the command line and the result ---------------------------------------------------------

def arguments(module: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of ``python -m <module>``, described by the first paragraph of its
    docstring."""
    return argparse.ArgumentParser(prog=f"python -m {module}",
                                   description=(doc or "").split("\n\n")[0].strip())


def emit(result: dict[str, Any]) -> None:
    """Print the benchmark's result: one JSON object on one line (numpy scalars as
    numbers)."""
    print(json.dumps(result, default=_plain), flush=True)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# -- PostgreSQL ------------------------------------------------------------------------------

@contextlib.contextmanager
def pg_server(variable: str = "RIPCITY_DATABASE_URL") -> Iterator[str]:
    """A PostgreSQL server to create databases on: the one the environment ``variable``
    names; else the local one at ``LOCAL_URL`` if it answers; else the embedded server,
    started in a temporary directory for this run and stopped afterwards (the tests find
    theirs the same way, from RIPCITY_TEST_DATABASE_URL)."""
    explicit = os.environ.get(variable)
    if explicit:
        yield explicit
        return
    if _answers(LOCAL_URL):
        yield LOCAL_URL
        return
    from storage.embedded import start_embedded, stop_embedded

    # not under a 0700 temp root: run as root, the server's own user must reach it
    data_dir = Path(tempfile.mkdtemp(prefix="ripcity-bench-pg-"))
    try:
        yield with_database(start_embedded(data_dir, free_port()), "postgres")
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


#: the server settings a write-heavy benchmark's PostgreSQL CPU depends on (the machine's
#: server keeps PostgreSQL's defaults; the embedded one is sized for ingest,
#: ``storage.embedded``): reported with the numbers, since they move them
SERVER_SETTINGS = ("shared_buffers", "wal_buffers", "max_wal_size", "checkpoint_timeout",
                   "work_mem", "synchronous_commit", "wal_level", "autovacuum")


def server_settings(url: str) -> dict[str, str]:
    """The server's version and ``SERVER_SETTINGS``, as ``SHOW`` prints them."""
    with psycopg.connect(url) as conn:
        shown = {name: str(conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name)))
                           .fetchone()[0]) for name in SERVER_SETTINGS}
        version = conn.execute("SHOW server_version").fetchone()[0]
    return {"server_version": str(version).split()[0], **shown}


@contextlib.contextmanager
def scratch_database(prefix: str = "ripcity_bench", *, reuse: str | None = None,
                     keep: bool = False) -> Iterator[str]:
    """The URL of a fresh, migrated database ``<prefix>_<random>`` on ``pg_server()``,
    dropped afterwards. ``reuse`` names an existing database to use instead (migrated, not
    created); ``keep`` leaves the database in place (on the embedded server it goes with
    the server)."""
    from storage.migrate import migrate

    with pg_server() as server:
        name = reuse or f"{prefix}_{uuid.uuid4().hex[:8]}"
        if not reuse:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = with_database(server, name)
        try:
            with psycopg.connect(url) as conn:
                migrate(conn)
            yield url
        finally:
            if not keep:
                with psycopg.connect(server, autocommit=True) as admin:
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(name)))


@contextlib.contextmanager
def fresh_data_dir(prefix: str = "ripcity-bench-data-") -> Iterator[Path]:
    """``RIPCITY_DATA_DIR`` pointed at a new, empty directory for the block (and every
    process started in it: Ray's raylets and actors inherit it), then put back and removed.
    A benchmark that starts the engine measures a new install: without this, the deal model
    an earlier run saved in ``./.ripcity/models`` scored the first crawl from its first
    chunk, and the measured first crawl depended on what ran before it."""
    before = os.environ.get("RIPCITY_DATA_DIR")
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["RIPCITY_DATA_DIR"] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop("RIPCITY_DATA_DIR", None)
        else:
            os.environ["RIPCITY_DATA_DIR"] = before
        shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the sandbox's truth ---------------------------------------------------------------------

def iter_truth(base_url: str) -> Iterator[dict[str, Any]]:
    """Every world event with its details and live listings, from ``/_sandbox/truth``, one
    event at a time (a large world's truth does not fit in memory at once)."""
    with httpx.Client(base_url=base_url, timeout=120.0) as client:
        summary = client.get("/_sandbox/truth/events").raise_for_status().json()
        for e in summary["events"]:
            yield client.get(f"/_sandbox/truth/events/{e['world_event_id']}") \
                .raise_for_status().json()


def truth_events(base_url: str) -> list[dict[str, Any]]:
    """``iter_truth`` as a list, for a world small enough to hold."""
    return list(iter_truth(base_url))


# -- measuring -------------------------------------------------------------------------------

class Stopwatch:
    """Wall-clock seconds and this process's CPU seconds of a ``with`` block."""

    seconds: float
    cpu_seconds: float

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = time.process_time() - self._cpu


def process_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return times.user, times.system


def peak_rss_mb() -> float:
    """The peak resident memory of this process so far."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class RssSampler:
    """Peak summed RSS of this process and every descendant, sampled in a thread."""

    def __init__(self, every: float = 0.25) -> None:
        self.peak_mb = 0.0
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def sample(self) -> float:
        me = psutil.Process()
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        mb = total / 2**20
        self.peak_mb = max(self.peak_mb, mb)
        return mb

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()


def percentile_ms(seconds: Any, q: float, digits: int = 1) -> float:
    """The ``q``-th percentile of durations in seconds, in milliseconds."""
    return round(float(np.percentile(seconds, q)) * 1000, digits)


def emailed_token(inbox: Any, to: str, path: str, *, after: int = 0,
                  timeout: float = 10.0) -> str:
    """The token of the newest ``path?token=`` link emailed to ``to`` (waits for it);
    ``after``: only messages past that many in the inbox."""
    deadline = time.monotonic() + timeout
    pattern = re.compile(re.escape(path) + r"\?token=([A-Za-z0-9_\-]+)")
    while time.monotonic() < deadline:
        if hasattr(inbox, "received"):  # the sandbox's SmtpBox
            found = [got.message for got in inbox.received[after:]
                     if to.lower() in [r.lower() for r in got.rcpt_tos]]
        else:  # a sink keeping parsed messages
            found = [m for m in inbox.messages[after:] if to.lower() in str(m["To"]).lower()]
        for message in reversed(found):
            m = pattern.search(message.get_body(("plain",)).get_content())
            if m:
                return m.group(1)
        time.sleep(0.02)
    raise AssertionError(f"no email to {to} with a {path} link within {timeout} s")
