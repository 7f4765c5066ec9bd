"""Reads on replicas: which database a read goes to.

With ``RIPCITY_DATABASE_READ_URLS`` set, the API's read-only queries go to a streaming
replica that answers and whose replay lag is under ``RIPCITY_REPLICA_MAX_LAG_S``, in turn;
a replica that is down, lagging or failing is skipped and the primary serves. A caller who
has just written (``read_your_writes``) reads from the primary for
``RIPCITY_READ_YOUR_WRITES_S``, so their new watchlist entry, rule or account change is
there when the page reloads. Writes, ``LISTEN``/``NOTIFY`` and the engine always use the
primary (they never see this module).

Each replica is checked every ``check_every_s`` in the background (one short query); a read
that cannot get a replica connection marks it down at once and falls back to the primary.
A replica that fails *during* a query (its server stopped, its backend terminated, a query
cancelled by a recovery conflict) fails only that attempt: a safe request (GET, HEAD,
OPTIONS — reads only, so running it again is harmless) is run once more with every read on
the primary, and one warning line says so; an unsafe one fails as before.

REST handlers and dashboard pages read the same way: ``async with reads.connection()``,
``reads`` being the ``reads`` dependency or :func:`reads_of` the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import psycopg
from litestar.utils.scope.state import CONNECTION_STATE_KEY
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from storage.db import mask_url
from storage.replication import replica_lag

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ASGIApp, Message, Receive, Scope, Send
    from psycopg import AsyncConnection

    from api.lib.runtime import Runtime

logger = logging.getLogger(__name__)

#: the cookie that keeps a browser on the primary for a while after it wrote
READ_YOUR_WRITES_COOKIE = "ripcity_ryw"
#: scope-state keys: this request reads from the primary; a replica failed under this request
READ_PRIMARY = "read_primary"
REPLICA_FAILED = "replica_failed"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclasses.dataclass(slots=True)
class ReplicaHealth:
    url: str
    healthy: bool = False
    lag_s: float | None = None
    error: str | None = None
    checked_at: float = 0.0


class ReadRouter:
    """The primary pool plus one pool per replica, and which of them serves a read."""

    def __init__(self, primary: AsyncConnectionPool, replica_urls: list[str], *,
                 max_lag_s: float, size: int, check_every_s: float = 1.0,
                 acquire_timeout_s: float = 2.0) -> None:
        self.primary = primary
        self.max_lag_s = max_lag_s
        self.check_every_s = check_every_s
        self.acquire_timeout_s = acquire_timeout_s
        self._pools = [AsyncConnectionPool(url, min_size=1, max_size=max(2, size), open=False,
                                           kwargs={"autocommit": True},
                                           name=f"ripcity-replica-{i}",
                                           timeout=acquire_timeout_s,
                                           # a killed replica's connections are found out
                                           # on checkout, not by the query
                                           check=AsyncConnectionPool.check_connection)
                       for i, url in enumerate(replica_urls)]
        self.health = [ReplicaHealth(mask_url(url)) for url in replica_urls]
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None

    @property
    def configured(self) -> bool:
        return bool(self._pools)

    async def start(self) -> None:
        """Open the replica pools without waiting (a down replica must not stop the API),
        check them once, and keep checking in the background."""
        for pool in self._pools:
            await pool.open(wait=False)
        if self._pools:
            await self.check()
            self._task = asyncio.create_task(self._checking(), name="ripcity-replica-checks")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for pool in self._pools:
            await pool.close()

    async def check(self) -> None:
        await asyncio.gather(*(self._check(i) for i in range(len(self._pools))))

    async def _check(self, i: int) -> None:
        health = self.health[i]
        try:
            async with asyncio.timeout(self.acquire_timeout_s + 1):
                async with self._pools[i].connection(timeout=self.acquire_timeout_s) as conn:
                    lag = await replica_lag(conn)
        except (psycopg.Error, PoolTimeout, TimeoutError) as err:
            self._mark(i, healthy=False, lag=None, error=f"unreachable ({type(err).__name__})")
            return
        if lag.lag_s > self.max_lag_s:
            self._mark(i, healthy=False, lag=lag.lag_s,
                       error=f"lagging {lag.lag_s:.1f} s > {self.max_lag_s:g} s"
                             + (" (replay paused)" if lag.replay_paused else ""))
        else:
            self._mark(i, healthy=True, lag=lag.lag_s, error=None)
        health.checked_at = time.time()

    def _mark(self, i: int, *, healthy: bool, lag: float | None, error: str | None) -> None:
        health = self.health[i]
        if health.healthy != healthy and health.checked_at:
            if healthy:
                logger.info("replica %s serves reads again (lag %.1f s)", health.url, lag or 0)
            else:
                logger.warning("replica %s skipped, reads go to the primary: %s", health.url,
                               error)
        health.healthy, health.lag_s, health.error = healthy, lag, error
        health.checked_at = time.time()

    async def _checking(self) -> None:
        while True:
            await asyncio.sleep(self.check_every_s)
            try:
                await self.check()
            except Exception:  # the checker must outlive any one failure
                logger.exception("replica check failed")

    def _replica(self) -> int | None:
        healthy = [i for i, h in enumerate(self.health) if h.healthy]
        if not healthy:
            return None
        return healthy[next(self._turn) % len(healthy)]

    @contextlib.asynccontextmanager
    async def connection(self, *, primary: bool = False,
                         state: dict[str, Any] | None = None
                         ) -> AsyncIterator[AsyncConnection]:
        """A connection for read-only queries: a healthy replica's unless ``primary`` (the
        caller just wrote) or none is healthy; a replica that fails to lend one is marked
        down and the primary serves. A replica that fails during a query is marked down
        if its connection broke, and the failure is noted in ``state`` (the request's, for
        the middleware's retry) before the error goes on."""
        i = None if primary else self._replica()
        if i is not None:
            stack = contextlib.AsyncExitStack()
            try:
                conn = await stack.enter_async_context(
                    self._pools[i].connection(timeout=self.acquire_timeout_s))
            except (psycopg.OperationalError, PoolTimeout) as err:
                self._mark(i, healthy=False, lag=None,
                           error=f"no connection ({type(err).__name__})")
            else:
                async with stack:
                    try:
                        yield conn
                    except psycopg.OperationalError as err:
                        self._failed(i, conn, err, state)
                        raise
                return
        async with self.primary.connection() as conn:
            yield conn

    def _failed(self, i: int, conn: AsyncConnection, err: psycopg.OperationalError,
                state: dict[str, Any] | None) -> None:
        """A query on replica ``i`` failed. Only the replica's own failures count: a lost
        connection (stopped server, terminated backend) or a recovery conflict; a
        statement timeout would fail on the primary too."""
        if isinstance(err, psycopg.errors.QueryCanceled) and not conn.broken:
            return
        reason = f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}"
        if conn.broken or conn.closed:
            self._mark(i, healthy=False, lag=None, error=f"failed during a query ({reason})")
        if state is not None:
            state[REPLICA_FAILED] = f"{self.health[i].url} ({reason})"


class Reads:
    """What a handler reads through: ``async with reads.connection() as conn``."""

    def __init__(self, router: ReadRouter | None, primary: AsyncConnectionPool,
                 on_primary: bool, state: dict[str, Any] | None = None) -> None:
        self._router, self._primary, self.on_primary = router, primary, on_primary
        self._state = state

    def connection(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        if self._router is None or not self._router.configured:
            return self._primary.connection()
        return self._router.connection(primary=self.on_primary, state=self._state)


def reads_of(request: Request[Any, Any, Any]) -> Reads:
    """Where this request's read-only queries go (what the ``reads`` dependency provides;
    dashboard pages call it directly). A request the middleware did not see (no replicas)
    and every unsafe request read from the primary."""
    runtime: Runtime = request.app.state.runtime
    state = request.scope.setdefault("state", {})
    on_primary = bool(state.get(READ_PRIMARY)) or request.scope["method"] not in SAFE_METHODS
    return Reads(runtime.reads, runtime.pool, on_primary, state)


def _marker(user_id: int) -> str:
    return f"ryw:user:{user_id}"


def read_routing_middleware(runtime: Runtime):  # type: ignore[no-untyped-def]
    """Route each request's reads; does nothing without replicas.

    Read-your-writes: a successful unsafe request leaves a marker for its user in the
    shared backend (every API process sees it) and a short-lived cookie (a browser that
    just signed up has no user yet); a request carrying either reads from the primary.

    Retry: a safe request during which a replica failed (noted by :class:`ReadRouter`) has
    its response held back and is run once more with every read on the primary."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            router, backend = runtime.reads, runtime.backend
            if scope["type"] != "http" or router is None or not router.configured:
                await app(scope, receive, send)
                return
            state = scope.setdefault("state", {})
            principal = state.get("principal")
            sticky = any(name == b"cookie" and READ_YOUR_WRITES_COOKIE.encode() in value
                         for name, value in scope["headers"])
            if not sticky and principal is not None and backend is not None:
                sticky = await backend.get(_marker(principal.user_id)) is not None
            state[READ_PRIMARY] = sticky
            if scope["method"] in SAFE_METHODS:
                await _read_retrying(app, scope, receive, send)
                return
            ttl = max(1, math.ceil(runtime.settings.read_your_writes_s))

            async def _send(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] < 400:
                    cookie = (f"{READ_YOUR_WRITES_COOKIE}=1; Max-Age={ttl}; Path=/; HttpOnly; "
                              "SameSite=Lax")
                    message["headers"] = [*message.get("headers", ()),
                                          (b"set-cookie", cookie.encode())]
                    user = state.get("principal")
                    if user is not None and backend is not None:
                        await backend.set(_marker(user.user_id), b"1", ttl, ())
                await send(message)

            await app(scope, receive, _send)

        return middleware

    return factory


async def _read_retrying(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run a safe request; if a replica failed under it before its response started, drop
    that response and run the request once more on the primary (a fresh Litestar state:
    nothing resolved for the first attempt is reused)."""
    state = scope["state"]
    received: list[Message] = []
    held = False

    async def _receive() -> Message:
        message = await receive()
        received.append(message)
        return message

    async def _send(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and state.get(REPLICA_FAILED):
            held = True
        if not held:
            await send(message)

    await app(scope, _receive, _send)
    if not held:
        return
    logger.warning("replica %s failed during %s %s; retrying it once on the primary",
                   state[REPLICA_FAILED], scope["method"], scope["path"])
    again = {k: v for k, v in state.items() if k not in (CONNECTION_STATE_KEY, REPLICA_FAILED)}
    again[READ_PRIMARY] = True
    replay = iter(received)

    async def _replayed() -> Message:
        return next(replay, None) or await receive()

    await app({**scope, "state": again}, _replayed, send)


async def provide_reads(request: Request[Any, Any, Any]) -> Reads:
    return reads_of(request)
