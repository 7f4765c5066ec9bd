"""``ripcity serve``: the REST API and dashboard alone, with uvicorn, in the foreground.

With no ``RIPCITY_DATABASE_URL`` it starts (or reuses) the embedded PostgreSQL in
``RIPCITY_DATA_DIR`` and migrates it first, so it works on a fresh machine with nothing
configured; worker processes inherit the resolved URL. SIGINT or SIGTERM stops it cleanly
with any number of workers (a second one forces), the embedded PostgreSQL included.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from engine.cli.stopping import StopSignals
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
    """Run the API with uvicorn; Ctrl-C or SIGTERM stops it (twice: at once)."""
    from engine.cli.errors import check_port_free, check_safe_to_expose
    from engine.cli.stopping import StopSignals, stopped_cleanly
    from engine.settings import get_settings
    from storage.db import mask_url, resolve_database_url

    stop = StopSignals().install()
    settings = get_settings()
    level = (log_level or settings.log_level).lower()
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    bind_host = host or settings.api_host
    bind_port = settings.api_port if port is None else port
    check_safe_to_expose(bind_host, settings.secret_key)
    check_port_free(bind_host, bind_port, what="the API",
                    setting="RIPCITY_API_PORT (or --port)")
    embedded = not settings.database_url
    url = resolve_database_url(settings)
    if migrate:
        from storage.db import connect
        from storage.migrate import migrate as run_migrations

        with connect(url) as conn:
            applied = run_migrations(conn)
        if applied:
            typer.echo(f"applied {len(applied)} migration(s) to {mask_url(url)}")
    os.environ["RIPCITY_DATABASE_URL"] = url  # workers reuse the resolved (embedded) server
    get_settings.cache_clear()
    options = {"log_level": level, "proxy_headers": proxy_headers,
               "forwarded_allow_ips": forwarded_allow_ips}
    if not stop.event.is_set():
        _serve(stop, workers, bind_host, bind_port, options, settings, url, embedded)
    _release_database()
    stopped_cleanly()


def _serve(stop: StopSignals, workers: int, host: str, port: int, options: dict[str, Any],
           settings: Settings, url: str, embedded: bool) -> None:
    from api.app import create_app
    from engine.cli.api_server import ApiServer, run_workers, site_url
    from engine.cli.errors import ApiServerFailed
    from engine.cli.welcome import announce

    typer.echo(f"serving the API with {workers} worker(s) (Ctrl-C or SIGTERM stops it)")
    if workers > 1:
        announce(site_url(host, port), settings, url, embedded=embedded)
        run_workers(stop, workers, host, port, **options)
        return
    api = ApiServer(create_app(settings, db_url=url), host, port, **options).start()
    try:
        base = api.wait_started(stop.event)
        if base is not None:
            announce(base, settings, url, embedded=embedded)
        while api.alive and not stop.event.wait(0.5):
            pass
        if not stop.event.is_set():
            raise ApiServerFailed("the API server stopped on its own (uvicorn's reason is "
                                  "above)")
    finally:
        api.stop()


def _release_database() -> None:
    from storage.embedded import release_embedded

    for data_dir in release_embedded():
        typer.echo(f"stopped the embedded PostgreSQL in {data_dir}")
