"""The hook point after commit: what changed is handed to the alert matcher.

An ingest writer calls every hook's ``on_changes(changes)`` once its transaction has
committed (so an alert never fires for data that was rolled back). ``changes`` is what
``storage.ingest.write_snapshots`` / ``mark_gone`` returned: new listings, price changes
(old and new), listings gone. Hooks are loaded in each writer process from
``RIPCITY_CHANGE_HOOKS`` (comma-separated ``module:factory``; ``factory(database_url)``
returns an object with ``on_changes``); ``engine.alerts:create_matcher`` is added when that
module exists (``RIPCITY_CHANGE_HOOKS=none`` turns every hook off). A failing hook is
counted and logged, never fatal to the write.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Protocol

logger = logging.getLogger(__name__)

DEFAULT_MATCHER = "engine.alerts:create_matcher"


class ChangeHook(Protocol):
    def on_changes(self, changes: Any) -> None: ...


def load_hooks(specs: list[str] | None = None, database_url: str | None = None
               ) -> list[ChangeHook]:
    """Build the configured hooks (the alert matcher first when it exists)."""
    if specs is None:
        env = os.environ.get("RIPCITY_CHANGE_HOOKS", "")
        if env.strip().lower() == "none":
            return []
        specs = [s.strip() for s in env.split(",") if s.strip()]
        try:
            importlib.import_module(DEFAULT_MATCHER.split(":")[0])
            specs.insert(0, DEFAULT_MATCHER)
        except ImportError:
            pass
    hooks = []
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr or "create_matcher")
        except (ImportError, AttributeError) as err:
            if spec == DEFAULT_MATCHER:
                logger.warning("alert matcher not loaded: %(err)s", {"err": err})
                continue
            raise ValueError(f"change hook {spec!r} cannot be loaded ({err}); expected "
                             "'module:factory' where factory(database_url) has on_changes"
                             ) from err
        hooks.append(factory(database_url))
    return hooks
