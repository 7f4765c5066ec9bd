"""``ripcity run``: the main job (crawl on schedule, score, alert, serve the API)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import typer

app = typer.Typer(add_completion=False)

RayAddress = typer.Option(None, "--ray-address", envvar="RIPCITY_RAY_ADDRESS",
                          help="join this Ray cluster instead of starting Ray locally")


def install_stop_handlers() -> threading.Event:
    """Ctrl-C / SIGTERM set an event (the main loop then shuts everything down)."""
    stop = threading.Event()

    def _handler(signum: int, _frame: Any) -> None:
        if stop.is_set():  # second Ctrl-C: give up on a clean shutdown
            raise KeyboardInterrupt
        typer.echo("stopping (Ctrl-C again to force)...", err=True)
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    return stop


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="crawl cycle summary", show_header=False)
    for key in ("cycle_seconds", "events", "total_shards", "total_pages", "total_listings",
                "total_written", "total_new_listings", "total_price_changes", "total_gone",
                "scored", "deals",
                "total_rejects", "total_quarantined", "errors", "failed", "requeued"):
        table.add_row(key.removeprefix("total_"), str(summary.get(key, 0)))
    Console().print(table)
    for err in summary.get("last_errors") or []:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.YELLOW)


@app.command("run")
def run(
    once: bool = typer.Option(False, "--once", help="run one full crawl cycle and exit"),
    ray_address: str | None = RayAddress,
    workers: int | None = typer.Option(None, help="crawl workers (RIPCITY_CRAWL_WORKERS)"),
    speed: float | None = typer.Option(
        None, help="run the re-crawl schedule this many times faster "
        "(default: 1, or the sandbox clock's speed)"),
    sandbox_clock: float = typer.Option(
        60.0, help="sandbox only: simulated seconds per real second, so prices move"),
    serve_api: bool = typer.Option(True, "--api/--no-api", help="serve the API and dashboard"),
    timeout: float = typer.Option(3600.0, help="--once: give up after this many seconds"),
) -> None:
    """Crawl continuously on the schedule, score, alert, and serve the API and dashboard.

    With nothing configured: the embedded database, the local sandbox marketplace and a
    local Ray instance are started for you.
    """
    from engine.settings import get_settings

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s "
                        "%(name)s: %(message)s")
    stop = install_stop_handlers()
    from engine.session import engine_session

    overrides: dict[str, Any] = {}
    sandbox_options: dict[str, Any] = {}
    if not settings.marketplace_keys_set:
        sandbox_options["clock_speed"] = 0.0 if once else sandbox_clock
        overrides["speed"] = speed or max(1.0, sandbox_options["clock_speed"])
    else:
        overrides["speed"] = speed or 1.0
    if workers:
        overrides["crawl_workers"] = workers
    typer.echo("starting: database, marketplaces, Ray (first start takes a few seconds)...")
    with engine_session(settings, ray_address=ray_address, continuous=not once,
                        sandbox_options=sandbox_options, **overrides) as session:
        source = ("the local sandbox" if session.sandbox is not None
                  else "the configured marketplaces")
        typer.echo(f"crawling {source} with {len(session.engine.workers)} crawl workers")
        if once:
            summary = session.engine.run_cycle(timeout=timeout)
            print_summary(summary)
            if summary.get("failed"):
                raise typer.Exit(1)
            return
        _serve(session, stop, serve_api)
    typer.echo("stopped cleanly")


def _serve(session: Any, stop: threading.Event, serve_api: bool) -> None:
    import ray

    from engine.cli.serve import ApiServer
    from engine.cli.status_view import StatusReporter
    from engine.crawl.refresh import RefreshListener
    from engine.session import sandbox_clock_offset

    engine = session.engine
    api = ApiServer(session.settings).start() if serve_api else None
    url = api.url if api is not None else None
    listener = RefreshListener(session.database_url,
                               lambda pairs: engine.refresh(engine.targets_for(pairs)),
                               engine.wait_shards).start()
    rediscover = 3600.0 / max(engine.options.speed, 1e-9)
    last_discover: float | None = None
    synced = time.monotonic()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per status poll
    try:
        with StatusReporter(url) as reporter:
            while not stop.is_set():
                if last_discover is None or time.monotonic() - last_discover >= rediscover:
                    ray.get(engine.coordinator.discover.remote())
                    last_discover = time.monotonic()
                if session.sandbox is not None and time.monotonic() - synced >= 10:
                    synced = time.monotonic()  # the sandbox's simulated clock runs on
                    offset = sandbox_clock_offset(session.sandbox)
                    engine.coordinator.set_clock_offset.remote(offset)
                reporter.update(engine.status())
                stop.wait(0.5)
    finally:
        listener.stop()
        if api is not None:
            api.stop()
