"""Cached public reads with ``ETag`` / ``Cache-Control`` and ``If-None-Match``.

A hot query's encoded body (and its gzip form when large) is kept in the shared backend
under the request's path and query, tagged with the events it depends on. When the engine
ingests listings for an event, PostgreSQL notifies every API process
(``api.lib.invalidation``) and the tagged entries are dropped, so the next read is fresh
and carries a new ``ETag`` (a hash of the body: stable across processes and restarts).

Hits are answered by :meth:`ResponseCache.serve_hit` straight from the ASGI middleware,
before parameter parsing and dependency injection: only handlers write entries, and only
after validating their input, so a hit is always a valid public request. An entry may keep
how many items its body lists; every answer, hit or miss, puts that number in the scope's
state (``RESULT_COUNT``), which is how searches served from the cache are still counted
(:mod:`api.lib.analytics`).
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
#: scope["state"] key: how many items the answered body lists (when the handler said)
RESULT_COUNT = "result_count"


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


def _head(etag: bytes, max_age: int, count: int | None, tags: bytes) -> bytes:
    """An entry's first line: etag, max-age, item count (-1: not counted), tags."""
    return b"%s %d %d %s\n" % (etag, max_age, -1 if count is None else count, tags)


def _parse_head(head: bytes) -> tuple[bytes, bytes, int | None, bytes]:
    """(etag, max-age, item count or None, tags) of an entry's first line."""
    etag, max_age, rest = head.split(b" ", 2)
    count_b, sep, tags = rest.partition(b" ")
    if not sep or not count_b.lstrip(b"-").isdigit():  # an entry from before counts
        return etag, max_age, None, rest
    count = int(count_b)
    return etag, max_age, (count if count >= 0 else None), tags


def _note_count(scope: Scope, count: int | None) -> None:
    if count is not None:
        scope.setdefault("state", {})[RESULT_COUNT] = count


def cache_key(scope: Scope) -> str:
    qs: bytes = scope.get("query_string", b"")
    return scope["path"] + ("?" + qs.decode("latin-1") if qs else "")


class ResponseCache:
    """Serve encoded responses from the backend, computing and storing them on a miss."""

    def __init__(self, backend: Backend, metrics: Metrics | None = None) -> None:
        self._backend = backend
        self._metrics = metrics
        self._inflight: dict[str, asyncio.Future[tuple[bytes, int | None]]] = {}

    async def _compute_once(self, key: str, compute: Callable[[], Awaitable[Any]],
                            count: Callable[[Any], int] | None
                            ) -> tuple[bytes, int | None]:
        """Encode ``compute()`` (and count its items); concurrent misses of one key in this
        process share one run (a burst on a cold entry costs one query, not one per
        request)."""
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[tuple[bytes, int | None]] = \
            asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await compute()
            done = (msgspec.json.encode(value), None if count is None else count(value))
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(done)
        return done

    async def respond(
        self,
        request: Request[Any, Any, Any],
        compute: Callable[[], Awaitable[Any]],
        *,
        tags: tuple[str, ...],
        ttl: int = 60,
        max_age: int = 5,
        count: Callable[[Any], int] | None = None,
    ) -> Response[Any]:
        """Compute, encode and cache this request's response (the middleware serves hits).

        Args:
            request: the incoming request (its path and query are the cache key).
            compute: returns the response struct (may raise ``ApiError``: not cached).
            tags: what invalidates the entry (``event_tag(id)``, ``ALL_EVENTS_TAG``).
            ttl: longest the entry lives in the backend without an invalidation, seconds.
            max_age: ``Cache-Control: max-age`` for clients and shared caches, seconds.
            count: how many items the response lists (kept with the entry, and noted in
                the scope's state on every answer: ``RESULT_COUNT``).
        """
        key = cache_key(request.scope)
        body, items = await self._compute_once(key, compute, count)
        etag_b = _etag(body)
        # the gzip twin is stored later under the same head line
        head = _head(etag_b, max_age, items, ",".join(tags).encode())
        await self._backend.set(key, head + body, ttl, tags)
        _note_count(request.scope, items)
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
                tags = tuple(_parse_head(head)[3].decode().split(","))
                await self._backend.set(key + "|gz", stored, 60, tags)
                compressed = True
        head, _, body = stored.partition(b"\n")
        etag_b, max_age, items, _ = _parse_head(head)
        _note_count(scope, items)
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
