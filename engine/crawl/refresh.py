"""On-demand refresh: the API inserts a ``refresh_requests`` row (its trigger NOTIFYs);
the engine claims it and crawls that event on every marketplace at once.

A listener thread holds one autocommit connection in ``LISTEN refresh_requests``; on each
notification (and every few seconds, for requests made while it was down) it claims the
pending rows with ``FOR UPDATE SKIP LOCKED`` (several engines may share a database), maps
each event to its marketplace ids and queues express shards. A watcher marks each request
done or failed when its shards finish.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from storage.events import source_ids
from storage.refresh import claim_pending, finish_request, listen_for_requests

logger = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class RefreshStats:
    claimed: int = 0
    done: int = 0
    failed: int = 0
    latencies_ms: list[float] = dataclasses.field(default_factory=list)


class RefreshListener:
    """Claims refresh requests and hands them to ``queue(targets) -> shard ids``.

    Args:
        database_url: where ``refresh_requests`` lives.
        queue: ``Engine.refresh``-like: (marketplace, source_event_id) pairs -> shard ids.
        wait: ``Engine.wait_shards``-like: shard ids, timeout -> {id: result or error}.
        poll_seconds: how often pending rows are looked for without a notification.
    """

    def __init__(self, database_url: str, queue: Callable[[list[tuple[str, str]]], list[str]],
                 wait: Callable[[list[str], float], dict[str, Any]], *,
                 poll_seconds: float = 5.0) -> None:
        self._url = database_url
        self._queue = queue
        self._wait = wait
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._by = f"{socket.gethostname()}:engine"
        self.stats = RefreshStats()
        self._thread = threading.Thread(target=self._run, name="refresh-listener", daemon=True)

    def start(self) -> RefreshListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    listen_for_requests(conn)
                    self._claim_all(conn)
                    while not self._stop.is_set():
                        got = any(True for _ in conn.notifies(timeout=self._poll_step(),
                                                              stop_after=1))
                        if got or self._due():
                            self._claim_all(conn)
            except psycopg.OperationalError as err:
                logger.warning("refresh listener lost the database (%(err)s); retrying",
                               {"err": err})
                self._stop.wait(2.0)

    def _poll_step(self) -> float:
        return 0.5

    _last_poll = 0.0

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last_poll >= self._poll:
            self._last_poll = now
            return True
        return False

    def _claim_all(self, conn: Any) -> None:
        for request in claim_pending(conn, self._by):
            self.stats.claimed += 1
            t0 = time.monotonic()
            if request.event_id is None:
                self._finish(conn, request.id, "failed", "refresh of every event is not "
                             "supported; name an event_id")
                continue
            pairs = source_ids(conn, request.event_id, request.marketplace)
            shard_ids = self._queue(pairs) if pairs else []
            if not shard_ids:
                self._finish(conn, request.id, "failed",
                             f"event {request.event_id} has no crawlable marketplace source")
                continue
            threading.Thread(target=self._watch, args=(request.id, shard_ids, t0),
                             daemon=True).start()

    def _watch(self, request_id: int, shard_ids: list[str], t0: float) -> None:
        import psycopg

        outcome = self._wait(shard_ids, 120.0)
        errors = [str(v) for v in outcome.values() if v is None or isinstance(v, str)]
        status = "failed" if errors else "done"
        self.stats.latencies_ms.append((time.monotonic() - t0) * 1000)
        try:
            with psycopg.connect(self._url, autocommit=True) as conn:
                self._finish(conn, request_id, status, "; ".join(errors)[:1000] or None)
        except psycopg.OperationalError as err:
            logger.warning("could not mark refresh %(id)s %(status)s: %(err)s",
                           {"id": request_id, "status": status, "err": err})

    def _finish(self, conn: Any, request_id: int, status: str, error: str | None) -> None:
        if status == "done":
            self.stats.done += 1
        else:
            self.stats.failed += 1
        finish_request(conn, request_id, status, error)
