"""Throttles on failed attempts and on emails, with the ``limits`` library.

Login failures count per account (the email typed, whether or not it has an account, so
the answer says nothing about existence) and per client address, in moving windows of
growing length: after 5 failures in a minute the next try waits out that minute, after 10
in 15 minutes the quarter hour, after 20 in an hour the hour. The right password does not
skip the wait. Emails the API sends on request (reset links, verification links) count per
address, so one address cannot be flooded. Counters live in Redis when ``RIPCITY_REDIS_URL``
is set (shared by every API process), in memory otherwise. Like the request rate limits,
a Redis outage fails open (logged): logins keep working, unthrottled, until it is back.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

logger = logging.getLogger(__name__)

#: failed logins of one account (by email) before each growing wait
ACCOUNT_FAILURES = parse_many("5/minute;10/15 minutes;20/hour")
#: failed logins from one client address (any accounts)
ADDRESS_FAILURES = parse_many("20/minute;100/hour")
#: the owner hears about a burst of failures on their account at most once an hour
BURST_AT = 10
BURST_NOTICE = parse_many("1/hour")
#: emails sent on request (reset, verification) to one address
EMAILS_PER_ADDRESS = parse_many("3/15 minutes;10/day")


class Throttle:
    """Moving-window counters for attempts and emails (one per API process, shared
    through Redis when configured)."""

    def __init__(self, redis_url: str | None = None, prefix: str = "ripcity:api:") -> None:
        storage: Storage
        if redis_url:
            scheme, _, rest = redis_url.partition("://")
            uri = f"async+{'redis+unix' if scheme == 'unix' else scheme}://{rest}"
            storage = RedisStorage(uri, implementation="redispy", wrap_exceptions=True,
                                   key_prefix=f"{prefix}throttle", socket_timeout=2,
                                   socket_connect_timeout=2)
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    async def wait_for(self, items: list[RateLimitItem], *ids: str) -> int:
        """Seconds until another attempt under ``ids`` is allowed (0 = now)."""
        wait = 0.0
        try:
            for item in items:
                if not await self._limiter.test(item, *ids):
                    stats = await self._limiter.get_window_stats(item, *ids)
                    wait = max(wait, stats.reset_time - time.time())
        except StorageError as err:
            _unavailable(err)
            return 0
        return math.ceil(wait) if wait > 0 else 0

    async def count(self, items: list[RateLimitItem], *ids: str) -> bool:
        """Count one attempt in every window; False if any window was already full."""
        ok = True
        try:
            for item in items:
                ok = await self._limiter.hit(item, *ids) and ok
        except StorageError as err:
            _unavailable(err)
        return ok

    async def used(self, item: RateLimitItem, *ids: str) -> int:
        """How many attempts ``item``'s window holds now."""
        try:
            stats = await self._limiter.get_window_stats(item, *ids)
        except StorageError as err:
            _unavailable(err)
            return 0
        return item.amount - stats.remaining

    async def reset(self, *ids: str) -> None:
        """Forget the failures of ``ids`` (after a successful login)."""
        try:
            for item in ACCOUNT_FAILURES:
                await self._limiter.clear(item, *ids)
        except StorageError as err:
            _unavailable(err)


def _unavailable(err: StorageError) -> None:
    logger.warning("login and email throttles not applied, Redis unreachable: %s", err)
