"""``ripcity sandbox``: the local marketplace simulator."""

import typer

app = typer.Typer(help="Run the local marketplace simulator.", no_args_is_help=True)
