"""``ripcity db``: migrate, status, reset, export."""

import typer

app = typer.Typer(help="Manage the database: migrate, status, reset, export.", no_args_is_help=True)
