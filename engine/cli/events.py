"""``ripcity events``: event identity for operators: why events were (not) joined, merge two
events after the fact, split a wrong merge apart (old ids keep redirecting)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Event identity: show the matcher's decisions, merge, split.",
                  no_args_is_help=True)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


def _source(value: str) -> tuple[str, str]:
    marketplace, _, source_id = value.partition(":")
    if not marketplace or not source_id:
        raise typer.BadParameter(f"{value!r}: expected MARKETPLACE:SOURCE_EVENT_ID, e.g. "
                                 "seatgeek:6200081")
    return marketplace, source_id


@app.command()
def why(event_id: int = typer.Argument(..., help="our event id")) -> None:
    """The matcher's and operators' decisions about an event: each marketplace event it
    holds (or was compared with), matched or kept apart, with the reason and the score."""
    from engine.cli.db import _connection
    from storage.events import resolve_event_id
    from storage.events.assignments import match_decisions

    with _connection() as conn:
        target = resolve_event_id(conn, event_id)
        if target is not None:
            typer.echo(f"event {event_id} was merged into event {target}")
            event_id = target
        rows = match_decisions(conn, event_id)
    if not rows:
        _fail(f"no decisions recorded for event {event_id}")
    for d in rows:
        score = "" if d.score is None else f" score {d.score:.1f}"
        typer.echo(f"{d.decided_at:%Y-%m-%d %H:%M} {d.marketplace}:{d.source_event_id} -> "
                   f"{d.decision} event {d.event_id} (candidate {d.candidate_id}){score} "
                   f"by {d.decided_by}: {d.reason}")


@app.command()
def merge(
    survivor: int = typer.Argument(..., help="the event that stays"),
    other: int = typer.Argument(..., help="the event merged into it (its id redirects)"),
    reason: str = typer.Option("", help="why, kept with the decision"),
) -> None:
    """Merge OTHER into SURVIVOR: listings, history, watchlists and rules move in one
    transaction; OTHER's id redirects to SURVIVOR in the API and the dashboard."""
    from engine.cli.db import _connection
    from storage.errors import StorageError
    from storage.events import merge_into

    with _connection() as conn:
        try:
            moved = merge_into(conn, survivor, other, by="operator",
                               reason=reason or f"operator merged {other} into {survivor}")
        except StorageError as err:
            _fail(str(err))
    typer.echo(f"merged event {other} into {survivor}: {len(moved['sources'])} sources, "
               f"{len(moved['watchlists'])} watchlist entries moved "
               f"({len(moved['watchlists_dropped'])} duplicates folded), "
               f"{len(moved['rules'])} alert rules moved; /v1/events/{other} redirects")


@app.command()
def split(
    event_id: int = typer.Argument(..., help="the event holding a wrong match"),
    sources: list[str] = typer.Argument(..., help="MARKETPLACE:SOURCE_EVENT_ID to split off"),
    reason: str = typer.Option("", help="why, kept with the decision"),
) -> None:
    """Split SOURCES off EVENT_ID into an event of their own, with their listings and
    history. Undoing a merge brings the merged-away id back with its watchers and rules."""
    from engine.cli.db import _connection
    from storage.errors import StorageError
    from storage.events import split_event

    wanted = [_source(s) for s in sources]
    with _connection() as conn:
        try:
            new_id = split_event(conn, event_id, wanted, by="operator",
                                 reason=reason or f"operator split from {event_id}")
        except StorageError as err:
            _fail(str(err))
    typer.echo(f"split {len(wanted)} source(s) off event {event_id} into event {new_id}")
