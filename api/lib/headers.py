"""Security headers on every response, and the per-request CSP nonce pages put on scripts.

The policy is strict: scripts and stylesheets only from our own origin (third-party ones are
served from ``/assets``, see :mod:`api.lib.assets`), an inline ``<script>`` or ``<style>``
only with this response's nonce, no plugins, no ``<base>``, and no framing by anyone
(``frame-ancestors 'none'`` plus ``X-Frame-Options: DENY`` for old browsers). The API
reference pages (``/schema``, ``/swagger``) also allow inline *styles*, which their renderers
inject at run time; their scripts follow the same rule as every other page.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

NONCE_KEY = "csp_nonce"
#: paths whose renderer injects ``<style>`` elements (the third-party API reference UIs)
_INLINE_STYLE_PATHS = ("/schema", "/swagger")


def policy(nonce: str, path: str) -> str:
    """The Content-Security-Policy of one response."""
    styles = ("'self' 'unsafe-inline'" if path.startswith(_INLINE_STYLE_PATHS)
              else f"'self' 'nonce-{nonce}'")
    return "; ".join((
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src {styles}",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ))


def csp_nonce(request: Request[Any, Any, Any]) -> str:
    """The nonce of this response (templates put it on any inline script or style)."""
    return str(request.scope.get("state", {}).get(NONCE_KEY, ""))


def security_headers(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: a fresh nonce per request, the headers on every response."""

    async def _with_headers(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})[NONCE_KEY] = nonce  # type: ignore[typeddict-unknown-key]
        path = scope.get("path", "")

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"content-security-policy"]
                headers += [
                    (b"content-security-policy", policy(nonce, path).encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"strict-origin-when-cross-origin"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                message["headers"] = headers  # type: ignore[typeddict-unknown-key]
            await send(message)

        await app(scope, receive, _send)

    return _with_headers
