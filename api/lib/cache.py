"""Cached public reads with ``ETag`` / ``Cache-Control`` and ``If-None-Match``.

A hot query's encoded body (and its gzip form when large) is kept in the shared backend
under the request's path and query, tagged with the events it depends on. When the engine
ingests listings for an event, PostgreSQL notifies every API process
(``api.lib.invalidation``) and the tagged entries are dropped, so the next read is fresh
and carries a new ``ETag`` (a hash of the body: stable across processes and restarts).

Hits are answered by :meth:`ResponseCache.serve_hit` straight from the ASGI middleware,
before parameter parsing and dependency injection: only handlers write entries, and only
after validating their input, so a hit is always a valid public request.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Response

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import Scope, Send

    from api.lib.backends import Backend
    from api.lib.metrics import Metrics

#: Tag carried by every cached list that spans events (search, deals): any ingest drops it.
ALL_EVENTS_TAG = "events:*"
#: Paths whose GETs may be cached (public reads); ``/deals/for-me`` is private.
CACHEABLE_PREFIXES = ("/api/v1/events", "/api/v1/deals")
_PRIVATE = ("/api/v1/deals/for-me",)
_GZIP_MIN = 2048


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


def cache_key(scope: Scope) -> str:
    qs: bytes = scope.get("query_string", b"")
    return scope["path"] + ("?" + qs.decode("latin-1") if qs else "")


class ResponseCache:
    """Serve encoded responses from the backend, computing and storing them on a miss."""

    def __init__(self, backend: Backend, metrics: Metrics | None = None) -> None:
        self._backend = backend
        self._metrics = metrics
        self._inflight: dict[str, asyncio.Future[bytes]] = {}

    async def _compute_once(self, key: str, compute: Callable[[], Awaitable[Any]]) -> bytes:
        """Encode ``compute()``; concurrent misses of one key in this process share one run
        (a burst on a cold entry costs one query, not one per request)."""
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            body = msgspec.json.encode(await compute())
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(body)
        return body

    async def respond(
        self,
        request: Request[Any, Any, Any],
        compute: Callable[[], Awaitable[Any]],
        *,
        tags: tuple[str, ...],
        ttl: int = 60,
        max_age: int = 5,
    ) -> Response[Any]:
        """Compute, encode and cache this request's response (the middleware serves hits).

        Args:
            request: the incoming request (its path and query are the cache key).
            compute: returns the response struct (may raise ``ApiError``: not cached).
            tags: what invalidates the entry (``event_tag(id)``, ``ALL_EVENTS_TAG``).
            ttl: longest the entry lives in the backend without an invalidation, seconds.
            max_age: ``Cache-Control: max-age`` for clients and shared caches, seconds.
        """
        key = cache_key(request.scope)
        body = await self._compute_once(key, compute)
        etag_b = _etag(body)
        # head line: etag, max-age, tags (the gzip twin is stored later under the same tags)
        head = b"%s %d %s\n" % (etag_b, max_age, ",".join(tags).encode())
        await self._backend.set(key, head + body, ttl, tags)
        if self._metrics:
            self._metrics.cache_miss()
        etag = etag_b.decode()
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}",
                   "Vary": "Accept-Encoding"}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(b"", status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    async def serve_hit(self, scope: Scope, send: Send, *, gzip_ok: bool,
                        if_none_match: str | None,
                        extra_headers: list[tuple[bytes, bytes]]) -> bool:
        """Answer a GET from the cache if it is there; False means "not cached, go on"."""
        path: str = scope["path"]
        if not path.startswith(CACHEABLE_PREFIXES) or path.startswith(_PRIVATE):
            return False
        key = cache_key(scope)
        stored = await self._backend.get(key + "|gz") if gzip_ok else None
        compressed = stored is not None
        if stored is None:
            stored = await self._backend.get(key)
            if stored is None:
                return False
            if gzip_ok and len(stored) >= _GZIP_MIN:  # compress once, on the first gzip hit
                head, _, body = stored.partition(b"\n")
                stored = head + b"\n" + gzip.compress(body, 5)
                tags = tuple(head.split(b" ", 2)[2].decode().split(","))
                await self._backend.set(key + "|gz", stored, 60, tags)
                compressed = True
        head, _, body = stored.partition(b"\n")
        etag_b, max_age, _ = head.split(b" ", 2)
        if self._metrics:
            self._metrics.cache_hit()
        headers = [(b"etag", etag_b), (b"cache-control", b"public, max-age=" + max_age),
                   (b"vary", b"Accept-Encoding"), *extra_headers]
        if _matches(if_none_match, etag_b.decode()):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return True
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]
        if compressed:
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

    async def invalidate(self, tags: list[str]) -> None:
        await self._backend.invalidate(tags)
