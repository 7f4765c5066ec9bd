"""What ``ripcity run`` starts around the engine: database, sandbox, API.

Each piece is started only when needed (no database URL -> the embedded PostgreSQL; no
marketplace keys -> the sandbox; ``api`` built -> uvicorn) and stopped in reverse order.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.settings import Settings

logger = logging.getLogger(__name__)


def prepare_database(settings: Settings) -> str:
    """The database URL, migrated (starts the embedded server when none is configured)."""
    from storage.db import connect, resolve_database_url
    from storage.migrate import migrate

    url = resolve_database_url(settings)
    with connect(url) as conn:
        migrate(conn)
    return url


def start_sandbox(settings: Settings, **overrides: Any) -> Any:
    """The local marketplace simulator, sized from settings (``.urls``, ``.stop()``)."""
    from sandbox.server import start_sandbox as _start

    kwargs: dict[str, Any] = {
        "port": settings.sandbox_port, "seed": settings.sandbox_seed,
        "events": settings.sandbox_events,
        "listings_per_event": settings.sandbox_listings_per_event,
    }
    kwargs.update(overrides)
    return _start(**kwargs)


def sandbox_clock_offset(sandbox: Any) -> float:
    """Seconds from our clock to the sandbox's simulated one (its events live there)."""
    from datetime import UTC, datetime

    clock = sandbox.clock()
    return float(clock["epoch"]) - datetime.now(UTC).timestamp()


def find_create_app() -> Any | None:
    """``create_app`` from the API package, or None while the API is not built."""
    for name in ("api.app", "api.server.app"):
        try:
            module = importlib.import_module(name)
        except ImportError as err:
            if err.name and not name.startswith(err.name):
                logger.warning("API module %(mod)s failed to import: %(err)s",
                               {"mod": name, "err": err})
            continue
        factory = getattr(module, "create_app", None)
        if factory is not None:
            return factory
    return None


class ApiServer:
    """uvicorn in a background thread; ``stop()`` asks it to exit and waits."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port,
                                                     log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)


def start_api(settings: Settings) -> ApiServer | None:
    factory = find_create_app()
    if factory is None:
        return None
    return ApiServer(factory(), settings.api_host, settings.api_port).start()


def stop_quietly(thing: Any) -> None:
    """Call ``thing.stop()`` if there is a thing; log, never raise (we are shutting down)."""
    if thing is None:
        return
    with contextlib.suppress(Exception):
        thing.stop()
