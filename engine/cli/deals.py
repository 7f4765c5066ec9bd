"""``ripcity deals``: train the deal model now, list its versions, forecast one event.

Training normally happens on a timer (``engine.maintenance``); ``train`` is the on-demand
path: it reads the database's history, fits and saves a new fair-price model version and
reports how well it and the buy-or-wait forecaster do on data they did not see.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(help="The deal model: train it, list versions, forecast an event.",
                  no_args_is_help=True)

ModelsDir = Annotated[Path | None, typer.Option(
    "--models-dir", help="where model versions live (default RIPCITY_DATA_DIR/models)")]


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


@contextmanager
def _database() -> Iterator[str]:
    """The migrated product database's URL; known failures become one clean line."""
    import psycopg

    from engine.settings import get_settings
    from storage.db import mask_url, resolve_database_url
    from storage.embedded import EmbeddedServerError
    from storage.migrate import MigrationError
    from storage.settings import ConfigError

    url = ""
    try:
        url = resolve_database_url(get_settings())
        with psycopg.connect(url) as conn:
            from storage.migrate import migrate

            migrate(conn)
    except ConfigError:
        raise
    except (MigrationError, EmbeddedServerError) as err:
        _fail(str(err))
    except psycopg.OperationalError as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        _fail(f"cannot use the database at {mask_url(url) or '?'}: {first} "
              "(check RIPCITY_DATABASE_URL, or unset it to use the embedded server)")
    yield url


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.1%}"


def holdout_error(history: Any, context: Any, share: float = 0.2) -> dict[str, float]:
    """Fit the fair-price model on the older ``1 - share`` of snapshots and measure the
    median |fair / all-in - 1| on the newest ``share`` (a time-ordered backtest)."""
    import numpy as np
    import pyarrow.compute as pc

    from engine.deals.model import fit

    cut = pc.quantile(history["observed_at"].cast("int64"), q=1 - share)[0].as_py()
    t = history["observed_at"].cast("int64")
    train = history.filter(pc.less(t, cut))
    test = history.filter(pc.greater_equal(t, cut))
    if train.num_rows < 50 or test.num_rows == 0:
        return {"holdout_median_error": float("nan"), "holdout_rows": float(test.num_rows)}
    fair = fit(train, context).predict(test, context)
    total = test["total_cents"].to_numpy(zero_copy_only=False).astype(float)
    ok = np.isfinite(fair) & (total > 0)
    err = np.abs(fair[ok] / total[ok] - 1.0)
    return {"holdout_median_error": float(np.median(err)) if len(err) else float("nan"),
            "holdout_rows": float(ok.sum())}


@app.command()
def train(
    days: Annotated[float, typer.Option(help="days of snapshot history to train on")] = 30.0,
    limit: Annotated[int, typer.Option(help="at most this many snapshots")] = 2_000_000,
    horizon: Annotated[float, typer.Option(help="buy-or-wait horizon in days")] = 7.0,
    holdout: Annotated[bool, typer.Option(
        help="also fit on older data and measure on the newest 20%% (twice the work)")] = True,
    models_dir: ModelsDir = None,
) -> None:
    """Train a new fair-price model version from the database and report its backtests."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from engine.deals.buy_or_wait import backtest
    from engine.deals.registry import save_model
    from engine.deals.store import load_context, load_history
    from storage.db import connect
    from storage.rollups import get_in_series, refresh_rollups

    console = Console()
    now = datetime.now(UTC)
    with _database() as url, Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                      TimeElapsedColumn(), console=console) as progress:
        def step(text: str) -> Any:
            return progress.add_task(text, total=1)

        t = step("loading snapshot history")
        history = load_history(url, days=days, limit=limit)
        context = load_context(url)
        progress.update(t, completed=1, description=f"loaded {history.num_rows:,} snapshots "
                        f"of {len(context.events) if context.events is not None else 0:,} events")
        t = step("fitting the fair-price model")
        from engine.deals.model import fit

        try:
            model = fit(history, context)
        except ValueError as err:
            progress.stop()
            _fail(f"{err} (database has {history.num_rows:,} snapshots in the last "
                  f"{days:g} days; widen --days or crawl first: `ripcity crawl`)")
        version = save_model(model, models_dir)
        progress.update(t, completed=1, description=f"saved model {version}")
        scores: dict[str, float] = {}
        if holdout:
            t = step("backtest: fair price on the newest 20% of snapshots")
            scores.update(holdout_error(history, context))
            progress.update(t, completed=1)
        t = step("backtest: buy-or-wait on held-out events (hourly rollups)")
        with connect(url) as conn:
            refresh_rollups(conn, now - timedelta(days=2), now)
            series = get_in_series(conn, now - timedelta(days=days))
        scores.update(backtest(series, context, horizon_days=horizon))
        progress.update(t, completed=1)
    console.print(f"new model version: [bold]{version}[/bold]")
    if holdout:
        console.print(f"fair-price backtest: median error {_pct(scores['holdout_median_error'])}"
                      f" on {scores['holdout_rows']:,.0f} newer listings")
    console.print(
        f"buy-or-wait backtest accuracy: {_pct(scores['backtest_accuracy'])} "
        f"(always wait: {_pct(scores['naive_accuracy'])}, majority: "
        f"{_pct(scores.get('majority_accuracy', float('nan')))}) on "
        f"{scores['samples']:,.0f} hourly prices of {scores['events']:,.0f} events, "
        f"{horizon:g}-day horizon")


@app.command()
def status(models_dir: ModelsDir = None) -> None:
    """Saved model versions (newest last, LATEST marked) and stored forecasts."""
    import psycopg
    from rich.console import Console
    from rich.table import Table

    from engine.deals.registry import list_versions
    from engine.deals.registry import models_dir as resolve_dir

    root = resolve_dir(models_dir)
    versions = list_versions(root)
    latest_file = root / "LATEST"
    latest = latest_file.read_text().strip() if latest_file.is_file() else None
    console = Console()
    if not versions:
        console.print(f"no model versions in {root}: run `ripcity deals train`")
    else:
        table = Table(title=f"fair-price models in {root}")
        table.add_column("version")
        table.add_column("trained (UTC)")
        table.add_column("size", justify="right")
        table.add_column("")
        for v in versions:
            try:
                stamp = f"{datetime.strptime(v.split('-')[1], '%Y%m%dT%H%M%SZ'):%Y-%m-%d %H:%M}"
            except (IndexError, ValueError):
                stamp = "?"
            size = (root / f"{v}.joblib").stat().st_size
            table.add_row(v, stamp, f"{size / 1024:.0f} KiB", "LATEST" if v == latest else "")
        console.print(table)
    try:
        from storage.db import resolve_database_url
        from storage.forecasts import forecast_count

        with psycopg.connect(resolve_database_url(), connect_timeout=5) as conn:
            n, newest = forecast_count(conn)
        console.print(f"stored buy-or-wait forecasts: {n:,}"
                      + (f", newest {newest:%Y-%m-%d %H:%M} UTC" if newest else ""))
    except (psycopg.Error, OSError) as err:  # the versions are still worth showing
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        console.print(f"[yellow]forecasts unknown: database unreachable ({first})[/yellow]")


@app.command()
def forecast(
    event_id: Annotated[int, typer.Argument(help="the event's id (ripcity / API id)")],
    horizon: Annotated[float, typer.Option(help="horizon in days")] = 7.0,
    min_points: Annotated[int, typer.Option(help="hourly prices needed")] = 6,
) -> None:
    """Forecast one event now (refreshes its rollups, stores the forecast, prints it)."""
    from engine.deals.forecasting import compute_forecasts
    from storage.db import connect
    from storage.forecasts import latest_forecast
    from storage.rollups import event_span, refresh_rollups

    now = datetime.now(UTC)
    with _database() as url:
        with connect(url) as conn:
            event = event_span(conn, event_id)
            if event is None:
                _fail(f"no event {event_id}: find ids with the API (/api/v1/events) or the "
                      "dashboard")
            if event.first_observed_at is not None:
                refresh_rollups(conn, event.first_observed_at, now, event_ids=[event_id])
        _, counts = compute_forecasts(url, now, horizon_days=horizon, min_points=min_points,
                                      event_ids=[event_id])
        with connect(url) as conn:
            fc = latest_forecast(conn, event_id)
    if counts["forecasts"] == 0 or fc is None:
        why = ("it has already started" if event.starts_at and event.starts_at <= now
               else f"it has fewer than {min_points} hourly prices")
        _fail(f"no forecast for event {event_id} ({event.name}): {why}")
    typer.echo(f"{event.name} (event {event_id}): {fc.advice} — prices {fc.direction} "
               f"within {fc.horizon_days:g} days, {fc.confidence:.0%} confident")
    typer.echo(fc.reason)
    typer.echo(f"model {fc.model_version}, computed {fc.computed_at:%Y-%m-%d %H:%M} UTC")
