"""Identify the caller and apply their plan's rate limit, before any handler runs.

Pure ASGI middleware (cheap on the hot path): it resolves ``Authorization: Bearer <key>``
or the session cookie to a :class:`~api.lib.principals.Principal` (stored in the
request state for the auth dependencies), counts the request in a one-minute window per
key, per user or per client address, adds ``RateLimit-*`` headers, and answers 429 with
``Retry-After`` over the limit. Counters live in the shared backend, so limits hold across
API processes when Redis is configured.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from api.lib.errors import PROBLEM_JSON, problem_bytes
from api.plans import ANONYMOUS

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from api.lib.runtime import Runtime

logger = logging.getLogger(__name__)

SESSION_COOKIE = "ripcity_session"
CSRF_COOKIE = "ripcity_csrf"
WINDOW = 60
#: Paths that neither need identity nor count against a limit.
# Webhooks are authenticated by their signatures and retried by the vendor on 429.
EXEMPT = ("/healthz", "/readyz", "/metrics", "/schema", "/static", "/favicon.ico", "/webhooks/")


def _cookie(raw: str, name: str) -> str | None:
    for part in raw.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name and v:
            return v
    return None


def _plain(status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> list[Message]:
    headers = [(b"content-type", PROBLEM_JSON.encode()),
               (b"content-length", str(len(body)).encode()), *extra]
    return [{"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": body}]


def rate_limit_middleware(runtime: Runtime):  # type: ignore[no-untyped-def]
    """Build the middleware factory bound to ``runtime`` (Litestar calls it with ``app``)."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"].startswith(EXEMPT):
                await app(scope, receive, send)
                return
            auth = cookie = inm = None
            gzip_ok = False
            for name, value in scope["headers"]:
                if name == b"authorization":
                    auth = value.decode("latin-1")
                elif name == b"cookie":
                    cookie = value.decode("latin-1")
                elif name == b"accept-encoding":
                    gzip_ok = b"gzip" in value
                elif name == b"if-none-match":
                    inm = value.decode("latin-1")
            principal = None
            resolver = runtime.principals
            if auth is not None and resolver is not None:
                scheme, _, cred = auth.partition(" ")
                if scheme.lower() == "bearer" and cred.strip():
                    principal = await resolver.from_api_key(cred.strip())
                if principal is None:
                    body = problem_bytes(
                        401, "unauthorized", "Authentication required",
                        "The Authorization header does not carry a valid API key: send "
                        "`Authorization: Bearer <key>` with a key from POST /api/v1/api-keys "
                        "(revoked keys stop working), or omit the header for public reads.")
                    for m in _plain(401, body, [(b"www-authenticate", b'Bearer realm="ripcity"')]):
                        await send(m)
                    return
            elif cookie is not None and resolver is not None:
                token = _cookie(cookie, SESSION_COOKIE)
                if token:
                    principal = await resolver.from_session(token)
            scope.setdefault("state", {})["principal"] = principal
            if principal is not None:
                plan, key = principal.plan, principal.rate_key
            else:
                client = scope.get("client")
                plan, key = ANONYMOUS, f"ip:{client[0] if client else 'unknown'}"
            limit = max(1, int(plan.requests_per_minute * runtime.rate_limit_multiplier))
            assert runtime.backend is not None
            count, reset = await runtime.backend.hit(key, WINDOW)
            headers = [(b"ratelimit-limit", str(limit).encode()),
                       (b"ratelimit-remaining", str(max(0, limit - count)).encode()),
                       (b"ratelimit-reset", str(reset).encode()),
                       (b"ratelimit-policy", f"{limit};w={WINDOW}".encode())]
            if count > limit:
                runtime.metrics.rate_limited.inc()
                body = problem_bytes(
                    429, "rate-limited", "Too many requests",
                    f"The {plan.name} plan allows {limit} requests per minute and this "
                    f"{'key' if principal and principal.key_id else 'caller'} used them; retry "
                    f"in {reset} s (Retry-After), or upgrade to premium for a higher limit.",
                    retry_after=reset)
                for m in _plain(429, body, [*headers, (b"retry-after", str(reset).encode())]):
                    await send(m)
                return

            if scope["method"] == "GET" and runtime.cache is not None and \
                    await runtime.cache.serve_hit(scope, send, gzip_ok=gzip_ok,
                                                  if_none_match=inm, extra_headers=headers):
                return

            async def _send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), *headers]
                await send(message)

            await app(scope, receive, _send)

        return middleware

    return factory
