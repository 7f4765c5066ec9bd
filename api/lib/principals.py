"""Who is calling: resolve an API key or a session token to a user and their plan.

Lookups are cached in the process for a few seconds, so an authenticated request costs no
database round trip on a warm key; revoking a key or logging out evicts it here at once
and in other processes within ``ttl`` seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING

from api.lib.security import same, split_api_key, token_hash
from api.plans import Plan, plan_for
from storage import accounts

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    user_id: int
    email: str
    plan: Plan
    via: str  # "api_key" | "session"
    key_id: int | None = None
    session_hash: str | None = None
    csrf_token: str | None = None
    #: when the password was typed for this browser session (None for API keys)
    logged_in_at: datetime | None = None

    @property
    def rate_key(self) -> str:
        return f"k:{self.key_id}" if self.key_id is not None else f"u:{self.user_id}"


class PrincipalResolver:
    """Turn credentials into a :class:`Principal`, with a short in-process cache."""

    def __init__(self, pool: AsyncConnectionPool, ttl: float = 5.0) -> None:
        self._pool = pool
        self._ttl = ttl
        self._cache: dict[str, tuple[Principal | None, float]] = {}

    def _cached(self, key: str) -> tuple[bool, Principal | None]:
        hit = self._cache.get(key)
        if hit is None or hit[1] < time.monotonic():
            return False, None
        return True, hit[0]

    def _remember(self, key: str, principal: Principal | None) -> None:
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = (principal, time.monotonic() + self._ttl)

    def forget(self, *, user_id: int | None = None, token: str | None = None) -> None:
        """Evict cached identities (after logout, key revocation, plan or password change)."""
        if token is not None:
            self._cache.pop("s:" + token_hash(token), None)
        if user_id is not None:
            for k, (p, _) in list(self._cache.items()):
                if p is not None and p.user_id == user_id:
                    self._cache.pop(k, None)

    async def from_api_key(self, key: str) -> Principal | None:
        prefix = split_api_key(key)
        if prefix is None:
            return None
        digest = token_hash(key)
        found, principal = self._cached("k:" + digest)
        if found:
            return principal
        async with self._pool.connection() as conn:
            holder = await accounts.key_holder(conn, prefix)
            if holder is not None and same(holder.key_hash, digest):
                principal = Principal(user_id=holder.user_id, email=holder.email,
                                      plan=plan_for(holder.plan), via="api_key",
                                      key_id=holder.key_id)
                await accounts.touch_api_key(conn, holder.key_id)
        self._remember("k:" + digest, principal)
        return principal

    async def from_session(self, token: str) -> Principal | None:
        digest = token_hash(token)
        found, principal = self._cached("s:" + digest)
        if found:
            return principal
        async with self._pool.connection() as conn:
            holder = await accounts.session_holder(conn, digest)
        if holder is not None:
            principal = Principal(user_id=holder.user_id, email=holder.email,
                                  plan=plan_for(holder.plan), via="session",
                                  session_hash=digest, csrf_token=holder.csrf_token,
                                  logged_in_at=holder.logged_in_at)
        self._remember("s:" + digest, principal)
        return principal
