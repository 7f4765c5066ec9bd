"""Running the sandbox: in this process (``serve``) or in a subprocess on a free port
(``start_sandbox``), which is what the engine, the benchmarks and the tests use. The HTTP
server is ``sandbox.http`` (the ASGI ``create_app`` serves the same answers under
any ASGI server, e.g. ``uvicorn sandbox.app:create_app --factory``).

The subprocess binds its socket first and prints one JSON line ``{"port": N, ...}`` when it
accepts connections; the parent waits for that line, so a returned handle is ready to use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

from sandbox.app import SandboxConfig, create_app, urls_for

_READY_TIMEOUT = 60.0


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        raise OSError(f"sandbox cannot listen on {host}:{port} ({err.strerror}); pick another "
                      "--port, or 0 for any free port") from err
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def serve(config: SandboxConfig, host: str = "127.0.0.1", port: int = 8600,
          announce: Any = None, parent_pid: int | None = None,
          smtp_port: int | None = None) -> None:
    """Serve until SIGINT/SIGTERM. ``announce(info)`` is called once the socket listens;
    with ``parent_pid`` the server also stops when that process is gone (no orphans); with
    ``smtp_port`` an SMTP inbox listens there too, shown at ``/_sandbox/mail``."""
    from sandbox.http import serve_forever
    from sandbox.vendors.smtp_inbox import SmtpBox

    app = create_app(config)
    sock = _bind(host, port)
    real_port = sock.getsockname()[1]
    base = f"http://{host}:{real_port}"
    info = {"port": real_port, "base_url": base, "urls": urls_for(base),
            "credentials": dict(config.credentials), "pid": os.getpid()}
    if smtp_port is not None:
        app.inbox = SmtpBox().start(smtp_port)
        info.update(smtp_port=app.inbox.port, mail_url=f"{base}/_sandbox/mail")

    async def run() -> None:
        loop = asyncio.get_running_loop()
        started, stop = asyncio.Event(), asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(serve_forever(app, sock, started, stop))
        await started.wait()
        if announce is not None:
            announce(info)
        while not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=1.0)
            except TimeoutError:
                if parent_pid and os.getppid() != parent_pid:
                    stop.set()

    try:
        import uvloop  # the fastest event loop available here
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(run())
    finally:
        if app.inbox is not None:
            app.inbox.stop()


class SandboxHandle:
    """A sandbox running in a subprocess; stop it with ``stop()`` or a ``with`` block."""

    def __init__(self, process: subprocess.Popen[bytes], info: dict[str, Any],
                 config: SandboxConfig) -> None:
        self.process = process
        self.config = config
        self.base_url: str = info["base_url"]
        self.port: int = info["port"]
        self.urls: dict[str, str] = info["urls"]
        self.credentials: dict[str, str] = info["credentials"]
        self.mail_url: str | None = info.get("mail_url")  # started with an SMTP inbox
        self._client = httpx.Client(base_url=self.base_url, timeout=30.0)

    # -- control helpers ---------------------------------------------------------------
    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """GET (or POST ``body`` to) a ``/_sandbox/...`` endpoint and return its JSON."""
        url = "/_sandbox/" + path.lstrip("/")
        r = self._client.post(url, json=body) if body is not None else self._client.get(url)
        r.raise_for_status()
        return r.json()

    def clock(self) -> dict[str, Any]:
        return self.control("clock")

    def advance(self, seconds: float) -> dict[str, Any]:
        return self.control("clock", {"seconds": seconds})

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.control("config", body)

    def truth(self, world_event_id: str | None = None) -> dict[str, Any]:
        return self.control("truth/events" + (f"/{world_event_id}" if world_event_id else ""))

    def stats(self) -> dict[str, Any]:
        return self.control("stats")

    # -- lifecycle ---------------------------------------------------------------------
    def stop(self) -> None:
        self._client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxHandle({self.base_url!r}, pid={self.process.pid})"


def start_sandbox(*, port: int = 0, host: str = "127.0.0.1", seed: int = 7, events: int = 120,
                  listings_per_event: int = 400, faults: str = "light",
                  clock_speed: float = 0.0, smtp_port: int | None = None,
                  start: str | None = None) -> SandboxHandle:
    """Start a sandbox in a subprocess (port 0 = a free port) and wait until it serves;
    with ``smtp_port`` it also runs an SMTP inbox there (``mail_url`` shows it)."""
    config = SandboxConfig(seed=seed, events=events, listings_per_event=listings_per_event,
                           faults=faults, clock_speed=clock_speed, start=start)
    cmd = [sys.executable, "-m", "sandbox.server", "--host", host, "--port", str(port),
           "--seed", str(seed), "--events", str(events), "--listings-per-event",
           str(listings_per_event), "--faults", faults, "--clock-speed", str(clock_speed),
           "--parent-pid", str(os.getpid())]
    if smtp_port is not None:
        cmd += ["--smtp-port", str(smtp_port)]
    if start is not None:
        cmd += ["--start", start]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + _READY_TIMEOUT
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    if not line:
        proc.kill()
        raise RuntimeError(f"sandbox did not start within {_READY_TIMEOUT:.0f}s (exit code "
                           f"{proc.poll()}); run `{' '.join(cmd)}` to see why")
    return SandboxHandle(proc, json.loads(line), config)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sandbox.server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8600)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--events", type=int, default=120)
    p.add_argument("--listings-per-event", type=int, default=400)
    p.add_argument("--faults", default="light", choices=("none", "light", "heavy"))
    p.add_argument("--clock-speed", type=float, default=0.0)
    p.add_argument("--parent-pid", type=int, default=None,
                   help="exit when this process is gone (start_sandbox passes its own pid)")
    p.add_argument("--start", default=None,
                   help="the simulated season's first day, YYYY-MM-DD (default: 2026-10-01)")
    p.add_argument("--smtp-port", type=int, default=None,
                   help="also run an SMTP inbox on this port (0 = any free port), shown at "
                        "/_sandbox/mail")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    config = SandboxConfig(seed=args.seed, events=args.events,
                           listings_per_event=args.listings_per_event, faults=args.faults,
                           clock_speed=args.clock_speed, start=args.start)

    def announce(info: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        serve(config, args.host, args.port, announce, args.parent_pid, args.smtp_port)


if __name__ == "__main__":
    main()
