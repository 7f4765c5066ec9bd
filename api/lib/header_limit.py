"""A cap on the size of a request's headers: larger ones answer 431, before any routing.

uvicorn's httptools parser reads headers of any size, so the cap lives in the app and holds
under any server. 16 KiB is far above what a browser or client of this API sends (a session
cookie, a CSRF cookie, an API key) and keeps a flood of huge headers cheap to refuse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.lib.errors import PROBLEM_JSON, problem_bytes

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

MAX_HEADER_BYTES = 16 * 1024


def header_limit(app: ASGIApp) -> ASGIApp:
    """ASGI middleware answering 431 (problem+json) to requests whose headers exceed
    :data:`MAX_HEADER_BYTES` in total (names and values)."""

    async def _capped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(k) + len(v) + 4 for k, v in scope.get("headers", []))
            if size > MAX_HEADER_BYTES:
                body = problem_bytes(
                    431, "headers-too-large", "Request header fields too large",
                    f"The request's headers total {size} bytes; at most {MAX_HEADER_BYTES} "
                    "are accepted. Send fewer or smaller cookies and headers.")
                await send({"type": "http.response.start", "status": 431, "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return _capped
