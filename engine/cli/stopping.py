"""How the long-running commands stop: one SIGINT or SIGTERM stops cleanly, a second forces.

``ripcity run``, ``ripcity serve`` and ``ripcity alerts dispatch`` install
:class:`StopSignals`. The first SIGINT or SIGTERM (Ctrl-C, ``kill``, systemd, Docker,
Kubernetes) sets ``event`` and runs the registered callbacks; the command then stops
everything it started, in reverse order, and prints :data:`STOPPED_CLEANLY`, exit 0. A
second signal forces: every child process is killed, the embedded PostgreSQL is stopped at
once if no other process uses it, one line says so, exit 1.

``ray.init`` installs its own SIGTERM handler; ``engine.cluster.init_ray`` puts the caller's
back, so one ``install()`` before starting anything holds for the whole run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

import typer

#: the last line of every graceful stop, the same for every command
STOPPED_CLEANLY = "stopped cleanly"


class StopSignals:
    """SIGINT / SIGTERM handlers: first = stop (``event``), second = :func:`force`."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []

    def install(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)
        return self

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (in the main thread, from the handler) at the first signal."""
        self._callbacks.append(callback)
        if self.event.is_set():
            callback()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.event.is_set():
            force(name)
        self.event.set()
        say(f"{name}: stopping (send it again to force)")
        for callback in self._callbacks:
            callback()


def stopped_cleanly() -> None:
    """Print :data:`STOPPED_CLEANLY` as the last line: log records still queued for a
    background listener (Litestar's app puts one on the root logger) are written first."""
    import logging

    for handler in logging.getLogger().handlers:
        listener = getattr(handler, "listener", None)
        if listener is not None and getattr(listener, "_thread", None) is not None:
            listener.stop()  # drains the queue
            listener.start()
    typer.echo(STOPPED_CLEANLY)


def say(line: str) -> None:
    """One line on stderr, safe inside a signal handler (no buffered stream)."""
    os.write(2, (line + "\n").encode())


def force(name: str) -> NoReturn:
    """Kill every child process, stop the embedded PostgreSQL at once (if no other
    process uses it), say so in one line and exit 1."""
    import psutil

    from storage.embedded import release_embedded

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=3)
    database = release_embedded(immediate=True, lock_timeout=1.0)
    say(f"forced stop ({name} twice): killed {len(children)} child processes"
        + (", stopped the embedded PostgreSQL at once" if database else ""))
    os._exit(1)
