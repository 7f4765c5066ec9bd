"""uvicorn under our control: in a thread (``ripcity run``, ``ripcity serve`` with one worker)
or as a supervisor of worker processes (``ripcity serve --workers N``).

Our :class:`~engine.cli.stopping.StopSignals` decide when to stop, not uvicorn's handlers:
uvicorn ignores signals outside the main thread, and its multi-process supervisor's handlers
are replaced by ours (which tell it to exit). So SIGTERM stops the API gracefully with one
worker or many, and the command goes on to stop what else it started.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from engine.cli.errors import ApiServerFailed

if TYPE_CHECKING:
    from engine.cli.stopping import StopSignals


def site_url(host: str, port: int) -> str:
    """The address a browser on this machine uses for a server bound to ``host:port``."""
    reach = "127.0.0.1" if host in ("0.0.0.0", "", "*") else "[::1]" if host == "::" else (
        f"[{host}]" if ":" in host else host)
    return f"http://{reach}:{port}"


class ApiServer:
    """uvicorn serving ``app`` in a background thread; ``stop()`` asks it to exit, waits."""

    def __init__(self, app: Any, host: str, port: int, **options: Any) -> None:
        import uvicorn

        options.setdefault("log_level", "warning")
        self.host = host
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port,
                                                     lifespan="on", access_log=False,
                                                     timeout_keep_alive=30, **options))
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def wait_started(self, stop: threading.Event, timeout: float = 120.0) -> str | None:
        """The URL once it serves; None if ``stop`` was set first. :class:`ApiServerFailed`
        if it gave up (uvicorn logged why)."""
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if stop.is_set():
                return None
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ApiServerFailed(
                    f"the API did not start on {self.host} (uvicorn's reason is above): if "
                    "the port is taken, set RIPCITY_API_PORT or --port")
            stop.wait(0.1)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return site_url(self.host, port)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        if self._thread.is_alive():  # open connections that do not finish
            self._server.force_exit = True
            self._thread.join(5)


def run_workers(stop: StopSignals, workers: int, host: str, port: int,
                **options: Any) -> None:
    """uvicorn's supervisor of ``workers`` processes (each builds the app from the
    environment) in this thread, until ``stop``; it stops and joins its workers."""
    from uvicorn import Config
    from uvicorn.supervisors import Multiprocess

    config = Config("api.app:create_app", factory=True, host=host, port=port,
                    workers=workers, access_log=False, timeout_keep_alive=30, **options)
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    stop.install()  # the supervisor installed its own SIGINT / SIGTERM handlers: ours win
    stop.on_stop(supervisor.should_exit.set)
    supervisor.run()
