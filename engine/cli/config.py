"""``ripcity config``: every setting, its value here and what it is for."""

from __future__ import annotations

import typer

app = typer.Typer(help="Show every setting (environment variable), its value and meaning.",
                  invoke_without_command=True)

_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "SID")


@app.callback()
def show(markdown: bool = typer.Option(False, "--markdown", help="print a Markdown table "
                                       "(defaults only), as README lists them")) -> None:
    """Print the settings; secrets are masked. Fails with one line on a bad value."""
    from rich.console import Console
    from rich.table import Table

    from engine.settings import describe_variables, get_settings
    from storage.db import mask_url
    from storage.settings import values_by_variable

    rows = describe_variables()
    if markdown:
        typer.echo("| variable | default | meaning |\n|---|---|---|")
        for var, default, desc in rows:
            typer.echo(f"| `{var}` | {f'`{default}`' if default else 'unset'} | {desc} |")
        return
    values = values_by_variable(get_settings())
    table = Table("variable", "value", "meaning")
    for var, _default, desc in rows:
        value = values[var]
        shown = "" if value is None else str(value)
        if shown and any(w in var for w in _SECRET_WORDS):
            shown = "********"
        elif shown and var.endswith("_URL") and "://" in shown:
            shown = mask_url(shown)
        table.add_row(var, shown or "[dim]unset[/dim]", desc)
    Console().print(table)
