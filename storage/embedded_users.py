"""Who uses the embedded PostgreSQL of a data directory: live processes, registered beside it.

Every process that starts or reuses the server writes ``<data_dir>/pg.users/<pid>`` holding
its start time (so a recycled pid does not count as the same process). The last live user
to leave stops the server (``storage.embedded.release_embedded``); a server whose users are
all dead (a crashed or killed owner) is an orphan, which the next process to attach adopts
and so stops when it leaves. The caller holds the data directory's lock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import psutil

USERS_DIR = "pg.users"


def _identity(pid: int) -> str | None:
    """A stable mark of the live process ``pid`` (its start time), None when it is gone."""
    try:
        return f"{psutil.Process(pid).create_time():.3f}"
    except psutil.Error:
        return None


def register(data_dir: Path) -> None:
    """Record this process as a user of the server in ``data_dir``."""
    users = data_dir / USERS_DIR
    users.mkdir(exist_ok=True)
    pid = os.getpid()
    (users / str(pid)).write_text(_identity(pid) or "")


def unregister(data_dir: Path) -> None:
    """Forget this process as a user."""
    (data_dir / USERS_DIR / str(os.getpid())).unlink(missing_ok=True)


def live_users(data_dir: Path) -> list[int]:
    """Pids of the live registered users; entries of dead processes are removed."""
    users = data_dir / USERS_DIR
    alive = []
    for entry in sorted(users.iterdir()) if users.is_dir() else []:
        mark = entry.read_text().strip() if entry.is_file() else ""
        if entry.name.isdigit() and mark and _identity(int(entry.name)) == mark:
            alive.append(int(entry.name))
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    return alive


def forget_all(data_dir: Path) -> None:
    """Clear the register (the server was stopped outright)."""
    shutil.rmtree(data_dir / USERS_DIR, ignore_errors=True)
