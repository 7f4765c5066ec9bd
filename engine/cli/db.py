"""``ripcity db``: migrate, status, reset, export, import, stop.

Every failure is one actionable line on stderr and exit status 1 (configuration errors: 2,
from ``engine.cli.main``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import psycopg

app = typer.Typer(
    help="Manage the database: migrate, status, reset, export, import.", no_args_is_help=True
)

_COUNTED = ("events", "event_sources", "listings_current", "listing_snapshots",
            "event_price_stats", "quarantine", "users", "alert_outbox")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


@contextmanager
def _connection() -> Iterator[psycopg.Connection]:
    """A connection to the product database; known failures become one clean line."""
    import psycopg

    from storage.db import connect, mask_url, resolve_database_url
    from storage.embedded import EmbeddedServerError
    from storage.migrate import MigrationError
    from storage.settings import ConfigError

    url = ""
    try:
        url = resolve_database_url()
        with connect(url) as conn:
            yield conn
    except ConfigError:
        raise  # engine.cli.main prints it as a configuration error (exit 2)
    except (MigrationError, EmbeddedServerError, ValueError) as err:
        _fail(str(err))
    except psycopg.OperationalError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        _fail(f"cannot use the database at {mask_url(url) or '?'}: {first} "
              "(check RIPCITY_DATABASE_URL, or unset it to use the embedded server)")
    except psycopg.Error as err:
        _fail(f"database error: {str(err).strip().splitlines()[0]}")


def _parse_when(value: str, option: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM", param_hint=option
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@contextmanager
def _progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


@app.command()
def migrate() -> None:
    """Apply pending migrations (safe to run any time)."""
    from storage.migrate import migrate as run

    with _connection() as conn:
        applied = run(conn)
    if applied:
        for m in applied:
            typer.echo(f"applied {m.filename}")
    else:
        typer.echo("database is up to date")


@app.command()
def status() -> None:
    """Show the database URL, server, time-series layout, migrations and row counts."""
    from rich.console import Console
    from rich.table import Table

    from storage.admin import row_counts, server_version
    from storage.db import mask_url
    from storage.migrate import applied_migrations, load_migrations
    from storage.partitions import timeseries_backend

    with _connection() as conn:
        info: dict[str, Any] = {
            "url": mask_url(_url()),
            "server": server_version(conn),
            "time series": timeseries_backend(conn),
        }
        applied = applied_migrations(conn)
        pending = {m.version for m in load_migrations()} - {a.version for a in applied}
        counts = row_counts(conn, _COUNTED)
    console = Console()
    for key, value in info.items():
        console.print(f"[bold]{key}:[/] {value}")
    mig = Table("migration", "applied at", title=f"migrations ({len(pending)} pending)")
    for a in applied:
        mig.add_row(f"{a.version:04d}_{a.name}", a.applied_at.isoformat(timespec="seconds"))
    console.print(mig)
    rows = Table("table", "rows", title="rows")
    for table, n in counts.items():
        rows.add_row(table, f"{n:,}")
    console.print(rows)


def _url() -> str:
    from storage.db import resolve_database_url

    return resolve_database_url()


@app.command()
def reset(yes: bool = typer.Option(False, "--yes", help="really delete all data")) -> None:
    """Drop every table and migrate from scratch (all data is lost)."""
    if not yes:
        _fail("reset deletes all data: run `ripcity db reset --yes` to confirm")
    from storage.admin import reset_database

    with _connection() as conn:
        applied = reset_database(conn)
    typer.echo(f"database reset: applied {len(applied)} migrations")


@app.command("export")
def export_(
    path: Path = typer.Argument(..., help="Parquet file to write"),
    since: str = typer.Option(..., help="first observation time, e.g. 2026-01-01"),
    until: str = typer.Option(None, help="end (exclusive); default now"),
) -> None:
    """Export listing snapshots observed in [since, until) to a Parquet file."""
    from storage.export import count_snapshots, export_snapshots

    start = _parse_when(since, "--since")
    end = _parse_when(until, "--until") if until else None
    with _connection() as conn:
        total = count_snapshots(conn, start, end)
        with _progress("exporting", total) as advance:
            rows = export_snapshots(conn, path, start, end, progress=advance)
    typer.echo(f"exported {rows:,} snapshots to {path}")


@app.command("import")
def import_(path: Path = typer.Argument(..., exists=True, dir_okay=False,
                                         help="Parquet file from `ripcity db export`")) -> None:
    """Import listing snapshots from a Parquet export (rows already present are skipped)."""
    import pyarrow.parquet as pq

    from storage.export import import_snapshots

    total = pq.ParquetFile(str(path)).metadata.num_rows
    with _connection() as conn, _progress("importing", total) as advance:
        rows = import_snapshots(conn, path, progress=advance)
    typer.echo(f"imported {rows:,} new snapshots from {path}")


@app.command()
def stop() -> None:
    """Stop the embedded PostgreSQL (no-op when RIPCITY_DATABASE_URL is set)."""
    from engine.settings import get_settings
    from storage.embedded import EmbeddedServerError, stop_embedded

    settings = get_settings()
    if settings.database_url:
        typer.echo("RIPCITY_DATABASE_URL is set: nothing embedded to stop")
        return
    try:
        stopped = stop_embedded(settings.data_dir)
    except EmbeddedServerError as err:
        _fail(str(err))
    typer.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL not running")
