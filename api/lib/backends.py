"""Where rate-limit counters and cached responses live: process memory, or Redis.

Chosen once in the app factory: Redis when ``RIPCITY_REDIS_URL`` is set (shared by every
API process, so limits and cache hold across workers and hosts), memory otherwise. Both
expose the same four operations; tags let one ingest notification drop every cached
response that depends on an event.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)


class Backend(Protocol):
    async def hit(self, key: str, window: int) -> tuple[int, int]:
        """Count one request in ``key``'s fixed window; return (count, seconds to reset)."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: int, tags: tuple[str, ...]) -> None: ...

    async def invalidate(self, tags: list[str]) -> None:
        """Drop every cached value stored under any of ``tags``."""

    async def close(self) -> None: ...


class MemoryBackend:
    """One process's counters and cache (bounded; oldest entries evicted first)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._counters: dict[str, tuple[int, float]] = {}
        self._values: dict[str, tuple[bytes, float]] = {}
        self._tags: dict[str, set[str]] = {}
        self._max = max_entries

    async def hit(self, key: str, window: int) -> tuple[int, int]:
        now = time.monotonic()
        count, reset_at = self._counters.get(key, (0, 0.0))
        if now >= reset_at:
            count, reset_at = 0, now + window
            if len(self._counters) > self._max:
                self._counters = {k: v for k, v in self._counters.items() if v[1] > now}
        count += 1
        self._counters[key] = (count, reset_at)
        return count, max(1, int(reset_at - now + 0.999))

    async def get(self, key: str) -> bytes | None:
        item = self._values.get(key)
        if item is None:
            return None
        if item[1] < time.monotonic():
            self._values.pop(key, None)
            return None
        return item[0]

    async def set(self, key: str, value: bytes, ttl: int, tags: tuple[str, ...]) -> None:
        if len(self._values) >= self._max:
            for old in list(self._values)[: self._max // 10]:
                self._values.pop(old, None)
        self._values[key] = (value, time.monotonic() + ttl)
        for tag in tags:
            self._tags.setdefault(tag, set()).add(key)

    async def invalidate(self, tags: list[str]) -> None:
        for tag in tags:
            for key in self._tags.pop(tag, ()):
                self._values.pop(key, None)

    async def close(self) -> None:
        self._values.clear()


class RedisBackend:
    """Counters and cache shared by every API process through one Redis.

    Fails open: while Redis is unreachable requests are not limited and every read is a
    cache miss (logged), so a Redis outage degrades speed, never availability.
    """

    def __init__(self, redis: Redis, prefix: str = "ripcity:api:") -> None:
        self._r = redis
        self._p = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "ripcity:api:") -> RedisBackend:
        from redis.asyncio import Redis

        return cls(Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), prefix)

    async def hit(self, key: str, window: int) -> tuple[int, int]:
        k = f"{self._p}rl:{key}"
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.incr(k)
                pipe.expire(k, window, nx=True)
                pipe.ttl(k)
                count, _, ttl = await pipe.execute()
        except (RedisError, OSError) as err:
            logger.warning("rate limit not applied, Redis unreachable: %s", err)
            return 0, window
        return int(count), max(1, int(ttl))

    async def get(self, key: str) -> bytes | None:
        try:
            value: bytes | None = await self._r.get(f"{self._p}c:{key}")
        except (RedisError, OSError) as err:
            logger.warning("cache read skipped, Redis unreachable: %s", err)
            return None
        return value

    async def set(self, key: str, value: bytes, ttl: int, tags: tuple[str, ...]) -> None:
        k = f"{self._p}c:{key}"
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.set(k, value, ex=ttl)
                for tag in tags:
                    pipe.sadd(f"{self._p}t:{tag}", k)
                    pipe.expire(f"{self._p}t:{tag}", 3600)
                await pipe.execute()
        except (RedisError, OSError) as err:
            logger.warning("cache write skipped, Redis unreachable: %s", err)

    async def invalidate(self, tags: list[str]) -> None:
        """Drop tagged entries (raises if Redis is down: the listener retries on reconnect)."""
        for tag in tags:
            tk = f"{self._p}t:{tag}"
            keys = await self._r.smembers(tk)
            if keys:
                await self._r.delete(*keys)
            await self._r.delete(tk)

    async def close(self) -> None:
        await self._r.aclose()
