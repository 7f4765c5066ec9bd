"""``ripcity crawl``: crawl now (one event on one marketplace, or everything)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import typer

from engine.cli.run import RayAddress, print_summary

app = typer.Typer(add_completion=False)


@app.command("crawl")
def crawl(
    marketplace: str | None = typer.Option(None, "--marketplace", "-m",
                                           help="ticketmaster, seatgeek, eventbrite, stubhub"),
    event: list[str] = typer.Option([], "--event", "-e",
                                    help="the marketplace's event id (repeatable)"),
    all_: bool = typer.Option(False, "--all", help="discover and crawl every event"),
    once: bool = typer.Option(False, "--once", help="with --all: one cycle, then exit"),
    ray_address: str | None = RayAddress,
    timeout: float = typer.Option(3600.0, help="give up after this many seconds"),
) -> None:
    """Crawl now, with a progress bar: ``--marketplace M --event ID`` or ``--all``."""
    if not all_ and not event:
        raise typer.BadParameter("name events with --event ID (and --marketplace), "
                                 "or crawl everything with --all")
    if event and not marketplace:
        raise typer.BadParameter("--event needs --marketplace: event ids are per marketplace")
    from engine.cli.stopping import StopSignals
    from engine.session import StartInterrupted, engine_session
    from engine.settings import get_settings

    settings = get_settings()
    logging.basicConfig(level=settings.log_level)
    stop = StopSignals().install().event
    markets = (marketplace,) if marketplace else None
    with contextlib.suppress(StartInterrupted), engine_session(
            settings, ray_address=ray_address, continuous=all_ and not once,
            marketplaces=markets, stop=stop) as session:
        engine = session.engine
        if event:
            shard_ids = engine.refresh(engine.targets_for([(marketplace, e) for e in event]))
            _progress(engine, stop, timeout, lambda: _done(engine, shard_ids))
        else:
            engine.discover()
            _progress(engine, stop, timeout, lambda: _idle(engine))
            engine.plan()
            _progress(engine, stop, timeout, lambda: _idle(engine) and (once or stop.is_set()))
        engine.flush()
        print_summary({**engine.status(), **engine.stored()})


def _idle(engine: Any) -> bool:
    return engine.idle()


def _done(engine: Any, shard_ids: list[str]) -> bool:
    return all(v is not None for v in engine.wait_shards(shard_ids, 0.0).values())


def _progress(engine: Any, stop: Any, timeout: float, finished: Any) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    deadline = time.monotonic() + timeout
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[listings]:,} listings  {task.fields[errors]} errors"))
    with Progress(*columns) as bar:
        task = bar.add_task("shards", total=None, listings=0, errors=0)
        while not stop.is_set() and time.monotonic() < deadline:
            s = engine.status()
            done = s.get("total_shards", 0) + s.get("failed", 0)
            bar.update(task, completed=done, total=done + s.get("backlog", 0)
                       + s.get("in_flight", 0), listings=s.get("committed_listings", 0),
                       errors=s.get("errors", 0))
            if finished():
                break
            stop.wait(0.3)
