"""Run a real ``ripcity`` command as a subprocess, signal it as an operator would, and see
what it left behind: its exit code, its output, and every process it had started (its
descendants, the embedded PostgreSQL of its data directory)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import psutil

ROOT = Path(__file__).resolve().parents[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without our settings (so the command sees only ``extra``)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RIPCITY_", "STRIPE_", "TWILIO_", "RAY_"))}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="200", **extra)
    return env


class Command:
    """``python -m engine.cli ARGS`` in a session of its own, output to a file."""

    def __init__(self, *args: str, env: dict[str, str], data_dir: Path | None = None) -> None:
        self.data_dir = data_dir
        self._seen: set[psutil.Process] = set()
        self._log: IO[str] = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by kill()
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=ROOT,
                                     env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)

    @property
    def output(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def wait_for(self, pattern: str, timeout: float = 180.0) -> re.Match[str]:
        """The first match of ``pattern`` in the output; fails if the command exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode} before {pattern!r}:\n"
                                     f"{self.output[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.output[-4000:]}")

    def family(self) -> list[psutil.Process]:
        """Every process it started that runs now: descendants and the embedded server."""
        procs = []
        with contextlib.suppress(psutil.Error):
            procs = psutil.Process(self.proc.pid).children(recursive=True)
        if self.data_dir is not None:
            from storage.embedded import running_server

            server = running_server(self.data_dir)
            if server is not None:
                procs.append(psutil.Process(server.pid))
        self._seen.update(procs)
        return procs

    def signal(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def finish(self, timeout: float = 60.0) -> tuple[int, str]:
        """Its exit code and output (failing if it does not exit in time)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout}s:\n{self.output[-4000:]}"
                                 ) from None
        return code, self.output

    def kill(self) -> None:
        """Leave nothing behind, whatever happened (test clean-up)."""
        procs = [*self._seen, *self.family()]
        if self.proc.poll() is None:
            procs.append(psutil.Process(self.proc.pid))
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        self.proc.wait(10)
        self._log.close()
        if self.data_dir is not None:
            from storage.embedded import stop_embedded

            with contextlib.suppress(Exception):
                stop_embedded(self.data_dir)


def still_running(procs: list[psutil.Process], grace: float = 5.0) -> list[str]:
    """Those of ``procs`` alive after ``grace`` seconds (zombies count as gone)."""
    _, alive = psutil.wait_procs(procs, timeout=grace)
    left = []
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} {proc.name()}")
    return left
