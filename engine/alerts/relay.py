"""``ChangeRelay`` actor: runs the change hooks (the alert matcher) on committed changes.

It sits beside the write path rather than in it, so a refresh's ack does not wait for
alert matching; crawl workers feed it through a bounded window, so a slow matcher still
pushes back on the crawl. Hooks are loaded once per relay (``engine.alerts.hooks``).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from engine.alerts.hooks import load_hooks

logger = logging.getLogger(__name__)


class ChangeRelay:
    def __init__(self, database_url: str | None = None,
                 hook_specs: list[str] | None = None) -> None:
        self._hooks = load_hooks(hook_specs, database_url)
        self.counts: Counter[str] = Counter()

    def on_changes(self, changes: Any) -> int:
        """Hand ``changes`` to every hook; returns how many hooks failed (logged)."""
        errors = 0
        for hook in self._hooks:
            try:
                hook.on_changes(changes)
            except Exception:  # one hook's bug must not stop the others
                errors += 1
                self.counts["hook_errors"] += 1
                logger.exception("change hook %(hook)r failed", {"hook": hook})
        self.counts["batches"] += 1
        return errors

    def hooks(self) -> list[str]:
        return [type(h).__name__ for h in self._hooks]
