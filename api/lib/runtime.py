"""Per-app shared resources: settings, the database pool (and the replicas reads may use),
the cache/limit backend and the cache of who is calling
(:class:`~api.lib.principals.PrincipalResolver`).

Built by the app factory, filled in by the lifespan (nothing connects at import), and kept
on ``app.state.runtime``; middleware and dependencies read it from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.lib.errors import Unavailable
from api.lib.product_log import ProductLog

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

    from api.lib.backends import Backend
    from api.lib.cache import ResponseCache
    from api.lib.metrics import Metrics
    from api.lib.principals import PrincipalResolver
    from api.lib.replicas import ReadRouter
    from api.lib.throttle import Throttle
    from api.settings import AppSettings


class Runtime:
    """Not a dataclass on purpose: Litestar would try to parse it as a request model."""

    def __init__(self, settings: AppSettings, metrics: Metrics, db_url: str | None = None,
                 rate_limit_multiplier: float = 1.0) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db_url = db_url
        #: multiplies every plan's requests per minute (benchmarks and load tests raise it)
        self.rate_limit_multiplier = rate_limit_multiplier
        self._pool: AsyncConnectionPool | None = None
        self.backend: Backend | None = None
        self.cache: ResponseCache | None = None
        self.principals: PrincipalResolver | None = None
        self.throttle: Throttle | None = None
        self.reads: ReadRouter | None = None
        #: product events written after their response, in batches (REST searches)
        self.product_log = ProductLog()

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise Unavailable("The database pool is not open yet; retry in a moment")
        return self._pool

    def forget_user(self, user_id: int) -> None:
        """Drop the user's cached identities in this process (their sessions, keys or plan
        just changed); other processes follow within the resolver's TTL."""
        if self.principals is not None:
            self.principals.forget(user_id=user_id)
