"""The ``ripcity`` command line: one entry point for operators.

Each command group lives in its own module (``engine/cli/*.py``) and is registered here;
modules keep heavy imports (Ray, Scrapy, psycopg) inside the commands so ``--help`` is fast.
"""

from __future__ import annotations

import sys

import typer

from storage.settings import ConfigError

app = typer.Typer(
    name="ripcity",
    help="Rip City Ticket Dispatch: crawl ticket marketplaces, track prices, score deals, "
    "alert subscribers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from engine.cli import alerts, config, crawl, db, deals, events, run, sandbox, serve

    app.add_typer(db.app, name="db")
    app.add_typer(sandbox.app, name="sandbox")
    app.add_typer(run.app)  # top-level commands: ``ripcity run``, ``ripcity crawl``
    app.add_typer(crawl.app)
    app.add_typer(serve.app)  # ``ripcity serve``
    app.add_typer(alerts.app, name="alerts")
    app.add_typer(deals.app, name="deals")
    app.add_typer(events.app, name="events")
    app.add_typer(config.app, name="config")


_register()


def main() -> None:
    """Console-script entry: configuration errors (exit 2) and operational ones (exit 1)
    become one actionable line; the embedded PostgreSQL is released on the way out."""
    from engine.cli.errors import one_line
    from storage.embedded import release_embedded

    try:
        app()
    except ConfigError as err:
        typer.secho(f"configuration error: {err}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except Exception as err:
        message = one_line(err)
        if message is None:
            raise
        typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
        sys.exit(1)
    finally:
        release_embedded()

