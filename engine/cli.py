"""The ``ripcity`` command line: one entry point for operators.

Each command group lives in its own module (``engine/cli_*.py``) and is registered here;
modules keep heavy imports (Ray, Scrapy, psycopg) inside the commands so ``--help`` is fast.
"""

from __future__ import annotations

import sys

import typer

from storage.config import ConfigError

app = typer.Typer(
    name="ripcity",
    help="Rip City Ticket Dispatch: crawl ticket marketplaces, track prices, score deals, "
    "alert subscribers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from engine import (
        cli_alerts,
        cli_config,
        cli_crawl,
        cli_db,
        cli_deals,
        cli_run,
        cli_sandbox,
        cli_serve,
    )

    app.add_typer(cli_db.app, name="db")
    app.add_typer(cli_sandbox.app, name="sandbox")
    app.add_typer(cli_run.app)  # top-level commands: ``ripcity run``, ``ripcity crawl``
    app.add_typer(cli_crawl.app)
    app.add_typer(cli_serve.app)  # ``ripcity serve``
    app.add_typer(cli_alerts.app, name="alerts")
    app.add_typer(cli_deals.app, name="deals")
    app.add_typer(cli_config.app, name="config")


_register()


def main() -> None:
    """Console-script entry: turns configuration errors into one actionable line."""
    try:
        app()
    except ConfigError as err:
        typer.secho(f"configuration error: {err}", err=True, fg=typer.colors.RED)
        sys.exit(2)


if __name__ == "__main__":
    main()
