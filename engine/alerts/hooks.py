"""Change hooks: what runs on each batch of committed changes, the alert matcher first.

A crawl worker forwards what an ``IngestWriter`` committed (what
``storage.ingest.write_snapshots`` / ``mark_gone`` returned: new listings, price changes
with old and new prices, listings gone) to a ``ChangeRelay`` (``engine.alerts.relay``),
which calls every hook's ``on_changes(changes)``: only after commit, so an alert never fires
for data that was rolled back. A failing hook is counted and logged by the relay, never
fatal to the write.

``RIPCITY_CHANGE_HOOKS`` is the operator's switch: ``none`` turns every hook off (alert
matching included); otherwise its comma-separated ``module:factory`` specs run after the
matcher, where ``factory(database_url)`` returns an object with ``on_changes``. An explicit
``specs`` list replaces both.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from engine.alerts.matcher import create_matcher


class ChangeHook(Protocol):
    def on_changes(self, changes: Any) -> None: ...


def load_hooks(specs: list[str] | None = None, database_url: str | None = None
               ) -> list[ChangeHook]:
    """Build the hooks: ``specs`` if given, else the alert matcher and the
    ``RIPCITY_CHANGE_HOOKS`` ones."""
    if specs is not None:
        return [_load(spec, database_url) for spec in specs]
    from engine.settings import get_settings

    env = get_settings().change_hooks
    if env.strip().lower() == "none":
        return []
    extra = [s.strip() for s in env.split(",") if s.strip()]
    return [create_matcher(database_url), *(_load(spec, database_url) for spec in extra)]


def _load(spec: str, database_url: str | None) -> ChangeHook:
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr or "create_matcher")
    except (ImportError, AttributeError) as err:
        raise ValueError(f"change hook {spec!r} cannot be loaded ({err}); expected "
                         "'module:factory' where factory(database_url) has on_changes"
                         ) from err
    return factory(database_url)
