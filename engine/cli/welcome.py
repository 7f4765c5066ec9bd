"""What a newcomer needs once the API is up: where the dashboard, the API docs and
``/metrics`` are, and, on a fresh embedded install, a one-time link that creates the first
administrator (like a notebook server's token link), so the operations page is reachable
without editing settings.

The link is printed while no administrator exists (no account flagged in the database and
``RIPCITY_ADMIN_EMAILS`` unset) and the database is the embedded one; each start issues a
new token and withdraws the unused ones (``storage.setup``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

import typer

if TYPE_CHECKING:
    from engine.settings import Settings


def announce(base_url: str, settings: Settings, database_url: str, *, embedded: bool) -> None:
    """Print where to go, and the first-admin link when there should be one."""
    typer.echo(f"dashboard: {base_url}/   API docs: {base_url}/schema   "
               f"metrics: {base_url}/metrics")
    from storage.setup import SETUP_TOKEN_TTL

    link = first_admin_link(base_url, settings, database_url) if embedded else None
    if link is not None:
        minutes = SETUP_TOKEN_TTL.total_seconds() / 60
        typer.echo(f"no administrator yet: create one at {link} (works once, for "
                   f"{minutes:.0f} minutes)")


def first_admin_link(base_url: str, settings: Settings, database_url: str) -> str | None:
    """A fresh one-time setup link, or None when an administrator exists."""
    from api.lib.security import new_token, token_hash
    from storage.db import connect
    from storage.setup import has_admin, issue_setup_token

    if settings.admin_emails:
        return None
    with connect(database_url) as conn:
        if has_admin(conn):
            return None
        token = new_token()
        issue_setup_token(conn, token_hash(token))
    return f"{base_url}/setup?{urlencode({'token': token})}"
