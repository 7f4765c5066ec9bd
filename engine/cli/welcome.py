"""What a newcomer needs once the API is up: where the dashboard, the API docs and
``/metrics`` are."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from engine.settings import Settings


def announce(base_url: str, settings: Settings, database_url: str, *, embedded: bool) -> None:
    """Print where to go."""
    typer.echo(f"dashboard: {base_url}/   API docs: {base_url}/schema   "
               f"metrics: {base_url}/metrics")
