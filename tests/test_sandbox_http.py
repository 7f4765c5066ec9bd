"""The sandbox's own HTTP/1.1 server: keep-alive, pipelining in order (also behind a slow
response), HEAD and Connection: close, as real clients use them."""

from __future__ import annotations

import socket

import httpx


def _raw(port: int, payload: bytes, expect: int) -> list[bytes]:
    """Send raw bytes; read until ``expect`` complete responses arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        data = b""
        while data.count(b"HTTP/1.1 ") < expect or not _complete(data, expect):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return [b"HTTP/1.1 " + part for part in data.split(b"HTTP/1.1 ")[1:]]


def _complete(data: bytes, expect: int) -> bool:
    parts = data.split(b"HTTP/1.1 ")[1:]
    if len(parts) < expect:
        return False
    head, _, body = parts[-1].partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    return len(body) >= length


def test_pipelined_responses_keep_request_order_behind_a_slow_one(make_sandbox) -> None:
    sb = make_sandbox()
    sb.set_faults({"marketplaces": {"seatgeek": {"slow": 1.0, "slow_seconds": 0.3}}})
    req = (b"GET /seatgeek/2/events?client_id=sandbox&per_page=1 HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /_sandbox/ping HTTP/1.1\r\nHost: x\r\n\r\n")
    first, second = _raw(sb.port, req, 2)
    assert b'"events"' in first and second.endswith(b'{"ok":true}')


def test_keep_alive_head_and_close(sandbox) -> None:
    with httpx.Client(base_url=sandbox.base_url) as c:
        for _ in range(3):  # one connection, several requests
            assert c.get("/_sandbox/ping").json() == {"ok": True}
        head = c.head("/_sandbox/clock")
        assert head.status_code == 200 and head.content == b""
    (only,) = _raw(sandbox.port, b"GET /_sandbox/ping HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n", 1)
    assert b"connection: close" in only.lower()
    (bad,) = _raw(sandbox.port, b"NOT HTTP AT ALL\r\n\r\n", 1)
    assert bad.startswith(b"HTTP/1.1 400")
