"""A minimal HTTP/1.1 server for the sandbox: asyncio protocol + httptools parser.

Why not uvicorn: an ASGI server spends a task, a scope and two socket writes per request;
a crawl benchmark must never wait on the sandbox, so this one calls ``SandboxApp.respond``
directly and writes head and body in one go. Keep-alive and pipelining are supported
(responses leave in request order, also when one is deliberately slow).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING

import httptools

if TYPE_CHECKING:
    from sandbox.app import SandboxApp

logger = logging.getLogger(__name__)

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_WANTED = {b"authorization", b"host", b"accept"}
_HIGH_WATER = 4 * 1024 * 1024


class _Slot:
    """One response in the connection's send queue (filled when ready)."""

    __slots__ = ("close", "data")

    def __init__(self) -> None:
        self.data: list[bytes] | None = None  # head, body: written with one writev
        self.close = False


class SandboxProtocol(asyncio.Protocol):
    def __init__(self, app: SandboxApp, base_url: str) -> None:
        self.app = app
        self.base_url = base_url
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: deque[_Slot] = deque()
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._closing = False

    # -- connection --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not TCP: nothing to tune
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(high=_HIGH_WATER)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.queue.clear()

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(b"upgrades are not supported")
        except httptools.HttpParserError as err:
            self._reject(f"malformed HTTP request: {err}".encode())
        except Exception:  # a bug must not hang the connection: log it and hang up
            logger.exception("sandbox HTTP server failed on a request")
            if self.transport is not None:
                self.transport.close()

    def _reject(self, why: bytes) -> None:
        if self.transport is not None:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\n"
                                 b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                                 % (len(why), why))
            self.transport.close()

    # -- parser callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in _WANTED:
            self._headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("latin-1")
        keep_alive = self.parser.should_keep_alive()
        url = httptools.parse_url(self._url)
        path = url.path.decode("latin-1")
        slot = _Slot()
        slot.close = not keep_alive
        self.queue.append(slot)
        base = "http://" + self._headers["host"] if "host" in self._headers else self.base_url
        response, extra, delay = self.app.respond(method, path, url.query or b"",
                                                  self._headers, b"".join(self._body), base)
        head = [b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
                % (response.status, _REASONS.get(response.status, b"Unknown"),
                   response.content_type, len(response.body))]
        for name, value in (*response.headers, *extra):
            head.append(b"%s: %s\r\n" % (name, value))
        if not keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        data = [b"".join(head)]
        if method != "HEAD":
            data.append(response.body)  # not copied into the head: writelines sends both
        if delay:
            asyncio.get_running_loop().call_later(delay, self._ready, slot, data)
        else:
            self._ready(slot, data)

    def _ready(self, slot: _Slot, data: list[bytes]) -> None:
        slot.data = data
        while self.queue and self.queue[0].data is not None:
            done = self.queue.popleft()
            if self.transport is None:
                return
            self.transport.writelines(done.data)  # type: ignore[arg-type]
            if done.close:
                self.transport.close()
                self.queue.clear()
                return


async def serve_forever(app: SandboxApp, sock: socket.socket, started: asyncio.Event,
                        stop: asyncio.Event) -> None:
    """Serve ``app`` on the listening ``sock`` until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    host, port = sock.getsockname()[:2]
    base = f"http://{host}:{port}"
    server = await loop.create_server(lambda: SandboxProtocol(app, base), sock=sock,
                                      backlog=2048)
    started.set()
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
