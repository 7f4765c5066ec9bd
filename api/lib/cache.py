"""Cached public reads with ``ETag`` / ``Cache-Control`` and ``If-None-Match``.

A hot query's encoded body is kept in the shared backend under the request's path and
query, tagged with the events it depends on. When the engine ingests listings for an
event, PostgreSQL notifies every API process (``api.lib.invalidation``) and the tagged
entries are dropped, so the next read is fresh and carries a new ``ETag``. The ETag is a
hash of the body, so it is stable across processes and restarts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Response

if TYPE_CHECKING:
    from litestar import Request

    from api.lib.backends import Backend
    from api.lib.metrics import Metrics

#: Tag carried by every cached list that spans events (search, deals): any ingest drops it.
ALL_EVENTS_TAG = "events:*"


def event_tag(event_id: int | str) -> str:
    return f"event:{event_id}"


def _etag(body: bytes) -> bytes:
    return b'"' + hashlib.blake2b(body, digest_size=10).hexdigest().encode() + b'"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == etag for t in if_none_match.split(","))


class ResponseCache:
    """Serve encoded responses from the backend, computing and storing them on a miss."""

    def __init__(self, backend: Backend, metrics: Metrics | None = None) -> None:
        self._backend = backend
        self._metrics = metrics

    async def respond(
        self,
        request: Request[Any, Any, Any],
        compute: Callable[[], Awaitable[Any]],
        *,
        tags: tuple[str, ...],
        ttl: int = 60,
        max_age: int = 5,
    ) -> Response[Any]:
        """Return the cached response for this request, or compute, encode and cache it.

        Args:
            request: the incoming request (its path and query are the cache key).
            compute: returns the response struct on a miss (may raise ``ApiError``).
            tags: what invalidates the entry (``event_tag(id)``, ``ALL_EVENTS_TAG``).
            ttl: longest the entry lives in the backend without an invalidation, seconds.
            max_age: ``Cache-Control: max-age`` for clients and shared caches, seconds.
        """
        qs = request.scope.get("query_string", b"")
        key = request.scope["path"] + ("?" + qs.decode("latin-1") if qs else "")
        stored = await self._backend.get(key)
        if stored is not None:
            etag_b, _, body = stored.partition(b"\n")
            if self._metrics:
                self._metrics.cache_hit()
        else:
            body = msgspec.json.encode(await compute())
            etag_b = _etag(body)
            await self._backend.set(key, etag_b + b"\n" + body, ttl, tags)
            if self._metrics:
                self._metrics.cache_miss()
        etag = etag_b.decode()
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}",
                   "Vary": "Accept-Encoding"}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(b"", status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    async def invalidate(self, tags: list[str]) -> None:
        await self._backend.invalidate(tags)
