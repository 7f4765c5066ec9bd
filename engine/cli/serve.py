"""Serving the REST API (and dashboard) with uvicorn: ``ripcity serve`` in the foreground,
and ``ApiServer``, the background thread ``ripcity run`` serves it from beside the engine.

With no ``RIPCITY_DATABASE_URL``, ``ripcity serve`` starts (or reuses) the embedded
PostgreSQL in ``RIPCITY_DATA_DIR`` and migrates it first, so it works on a fresh machine with
nothing configured; worker processes inherit the resolved URL.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from engine.settings import Settings

app = typer.Typer()

logger = logging.getLogger(__name__)


@app.command("serve")
def serve(
    host: str = typer.Option(None, help="interface to bind (default RIPCITY_API_HOST)"),
    port: int = typer.Option(None, help="TCP port (default RIPCITY_API_PORT; 0 = any free)"),
    workers: int = typer.Option(1, min=1, max=256, help="API processes (use about one per core)"),
    migrate: bool = typer.Option(True, help="apply pending database migrations first"),
    proxy_headers: bool = typer.Option(
        False, help="trust X-Forwarded-For from --forwarded-allow-ips (behind a load balancer)"),
    forwarded_allow_ips: str = typer.Option("127.0.0.1", help="load balancer addresses"),
    log_level: str = typer.Option(None, help="default RIPCITY_LOG_LEVEL"),
) -> None:
    """Run the API with uvicorn; Ctrl-C stops it."""
    import psycopg
    import uvicorn

    from engine.settings import get_settings
    from storage.db import mask_url, resolve_database_url

    settings = get_settings()
    level = (log_level or settings.log_level).lower()
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    url = resolve_database_url(settings)
    if migrate:
        from storage.migrate import MigrationError
        from storage.migrate import migrate as run_migrations

        try:
            with psycopg.connect(url) as conn:
                applied = run_migrations(conn)
        except psycopg.OperationalError as err:
            typer.secho(f"cannot reach the database at {mask_url(url)}: {err}".strip(),
                        err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        except MigrationError as err:
            typer.secho(f"database {mask_url(url)}: {err}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        if applied:
            typer.echo(f"applied {len(applied)} migration(s) to {mask_url(url)}")
    os.environ["RIPCITY_DATABASE_URL"] = url  # workers reuse the resolved (embedded) server
    get_settings.cache_clear()
    bind_host = host or settings.api_host
    bind_port = settings.api_port if port is None else port
    typer.echo(f"serving the API on http://{bind_host}:{bind_port} with {workers} worker(s); "
               f"docs at /schema")
    try:
        uvicorn.run("api.app:create_app", factory=True, host=bind_host, port=bind_port,
                    workers=workers, log_level=level, access_log=False,
                    proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips,
                    timeout_keep_alive=30)
    finally:
        from storage.embedded import stop_started_here

        for data_dir in stop_started_here():
            typer.echo(f"stopped the embedded PostgreSQL in {data_dir}")


class ApiServer:
    """uvicorn in a background thread; ``stop()`` asks it to exit and waits."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from api.app import create_app

        host, port = settings.api_host, settings.api_port
        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(create_app(), host=host, port=port,
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
