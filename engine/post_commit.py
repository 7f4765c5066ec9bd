"""``PostCommitReaper``: finishes the post-commit work the crawl workers left undone.

Every committed listings batch records its deal scoring and its changes' alert matching in
its own transaction (``storage.post_commit``). A crawl worker hands both to a scorer and the
change relay at once, and they finish the work; what is still pending afterwards (the
worker or the actor died, the database went away mid-call) is due after a grace period, and
this thread has the scorers and the relay redo it (``redo_pending``: claimed with SKIP
LOCKED, retried with backoff until done). ``drain`` does all of it now (the end of a crawl
cycle); ``counts`` is what the status line and ``/ops`` show.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.post_commit import WorkCounts

logger = logging.getLogger(__name__)


class PostCommitReaper:
    """A daemon thread calling ``redo_pending`` on ``scorers`` and ``relays`` every
    ``interval`` seconds (a restarting actor is skipped until the next round)."""

    def __init__(self, database_url: str, scorers: list[Any], relays: list[Any], *,
                 interval: float = 5.0, call_timeout: float = 120.0) -> None:
        self._url = database_url
        self._actors = [*scorers, *relays]
        self._interval = interval
        self._call_timeout = call_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._lock = threading.Lock()
        self.redone = 0
        self.errors = 0

    def start(self) -> PostCommitReaper:
        self._thread = threading.Thread(target=self._run, name="post-commit-reaper",
                                        daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.reap(everything=False)

    def reap(self, *, everything: bool) -> int:
        """One round over every actor; returns the pieces of work done."""
        import ray

        refs = [a.redo_pending.remote(everything) for a in self._actors]
        done = 0
        for ref in refs:
            try:
                done += int(ray.get(ref, timeout=self._call_timeout))
            except Exception as err:  # restarting actor, database away: next round
                self.errors += 1
                logger.warning("post-commit work not redone this round: %(err)s",
                               {"err": err})
        self.redone += done
        return done

    def drain(self, timeout: float = 600.0) -> WorkCounts | None:
        """Redo every pending piece now, until none is left or ``timeout``; returns what
        is left (None: the database could not say)."""
        deadline = time.monotonic() + timeout
        left = self.counts()
        while left is None or left.pending:
            if time.monotonic() >= deadline or self._stop.is_set():
                break
            if not self.reap(everything=True):
                time.sleep(1.0)  # locked by another reaper, or failing: give it a moment
            left = self.counts()
        return left

    def counts(self) -> WorkCounts | None:
        """Pending and failed post-commit work (None while the database is away)."""
        from storage.db import connect
        from storage.post_commit import work_counts

        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = connect(self._url, autocommit=True, connect_timeout=3)
                return work_counts(self._conn)
            except Exception as err:
                logger.info("post-commit counts unavailable: %(err)s", {"err": err})
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                return None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._call_timeout)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
