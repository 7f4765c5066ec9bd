"""``ChangeRelay`` actor: runs the change hooks (the alert matcher) on committed changes.

It sits beside the write path rather than in it, so a refresh's ack does not wait for
alert matching; crawl workers feed it through a bounded window, so a slow matcher still
pushes back on the crawl. Hooks are loaded once per relay (``engine.alerts.hooks``).
Changes arrive with the post-commit work they were recorded as (``storage.post_commit``):
once every hook took them, that work is finished; otherwise the ``PostCommitReaper`` has the
relay match them again (``redo_pending``) until it is done (matching is idempotent).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from engine.alerts.hooks import load_hooks
from engine.gc_tuning import tune_for_bulk_data

logger = logging.getLogger(__name__)


class ChangeRelay:
    def __init__(self, database_url: str | None = None,
                 hook_specs: list[str] | None = None) -> None:
        self._hooks = load_hooks(hook_specs, database_url)
        self.counts: Counter[str] = Counter()
        self._pool = None
        if database_url:
            from storage.db import pool

            self._pool = pool(database_url, min_size=0, max_size=1)
        tune_for_bulk_data()

    def on_changes(self, changes: Any) -> int:
        """Hand ``changes`` to every hook, then finish their post-commit work; returns how
        many hooks failed (logged; the work stays pending)."""
        errors = self._run_hooks(changes)
        work_id = getattr(changes, "work_id", None)
        if not errors and work_id is not None and self._pool is not None:
            from storage.post_commit import finish_work

            with self._pool.connection() as conn:
                finish_work(conn, work_id, "match")
        return errors

    def redo_pending(self, everything: bool = False, limit: int = 100) -> int:
        """Match again the changes whose matching was left undone (the due ones, or
        ``everything`` pending); returns how many were done."""
        from storage.post_commit import changes_of, claim_due, fail_work, finish_work

        assert self._pool is not None, "redo_pending needs a database"
        done = 0
        for _ in range(limit):
            with self._pool.connection() as conn:
                failed: tuple[int, str] | None = None
                with conn.transaction():
                    work = claim_due(conn, "match", everything=everything)
                    if work is None:
                        break
                    if self._run_hooks(changes_of(work)):
                        failed = (work.id, "a change hook failed (see the relay's log)")
                    else:
                        finish_work(conn, work.id, "match")
                        done += 1
                if failed is not None:
                    fail_work(conn, *failed)
                    break
        return done

    def _run_hooks(self, changes: Any) -> int:
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

    def pid(self) -> int:
        """This actor's process id (operators and the chaos tests kill it by it)."""
        import os

        return os.getpid()

    def hooks(self) -> list[str]:
        return [type(h).__name__ for h in self._hooks]
