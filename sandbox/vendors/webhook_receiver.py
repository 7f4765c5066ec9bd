"""A webhook receiver on 127.0.0.1: what an API client of ours runs, for the tests and
``bench.alerts``.

It checks every delivery with the documented recipe, written out here independently of
the sender (HMAC-SHA256 of ``"<t>.<raw body>"`` under the endpoint's secret, compared in
constant time with each ``v1`` of ``Ripcity-Signature``, ``t`` within 5 minutes), keeps
what arrived, and can be told to fail: the next N requests, or every request, answer
``fail_status``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    webhook_id: str
    body: bytes
    signature: str
    verified: bool
    status: int  # what the receiver answered
    at: float  # time.time() on arrival

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


def verify(header: str, body: bytes, secret: str, tolerance_s: int = 300) -> bool:
    fields = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in fields if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    if abs(time.time() - int(stamps[0])) > tolerance_s:
        return False
    want = hmac.new(secret.encode(), stamps[0].encode() + b"." + body,
                    hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(want, v) for k, v in fields if k == "v1")


class WebhookReceiver:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self.fail_next = 0  # answer fail_status to this many more requests
        self.fail_always = False
        self.fail_status = 503
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/ripcity"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sig = self.headers.get("Ripcity-Signature") or ""
                with receiver._cond:
                    failing = receiver.fail_always or receiver.fail_next > 0
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                    status = receiver.fail_status if failing else 200
                    receiver.deliveries.append(Delivery(
                        self.headers.get("Ripcity-Webhook-Id") or "", body, sig,
                        verify(sig, body, receiver.secret), status, time.time()))
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def accepted(self) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.status == 200]

    def wait_for(self, count: int, timeout: float = 10.0, *, accepted: bool = True
                 ) -> list[Delivery]:
        """Block until ``count`` deliveries (accepted ones by default) arrived."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [d for d in self.deliveries if d.status == 200 or not accepted]
                if len(got) >= count:
                    return got
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(got)} of {count} webhook deliveries in "
                                       f"{timeout:g}s")
                self._cond.wait(left)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
