"""A local HTTP server speaking Twilio's REST format for the Messages API.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form fields To, From, Body,
StatusCallback; HTTP Basic auth sid:token) answers 201 with Twilio's message resource
(``sid`` "SM" + 32 hex, ``status`` "queued"); a bad number gets Twilio's 400 error body
with code 21211. ``GET .../Messages.json`` lists messages newest first (To / From filters,
Twilio's paging envelope); ``GET .../Messages/{sid}.json`` fetches one.

Test controls: ``invalid_numbers`` (21211 for these even if well-formed), ``fail_next(n)``
(n transient 500s), ``hold()`` (the next create is recorded, then its response waits until
``release()``: a client killed meanwhile has been accepted without knowing it). The SDK is
pointed here with ``client.api.base_url = server.url`` (``TWILIO_API_BASE``).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox.vendors.hold import RequestHold

_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages(?:/(SM\w+))?\.json$")


@dataclasses.dataclass
class FakeMessage:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    status: str
    created: datetime
    accepted_at: float  # time.time() when the request was accepted

    def resource(self) -> dict[str, Any]:
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.sid}"
        stamp = format_datetime(self.created)
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": self.body,
            "date_created": stamp, "date_sent": None, "date_updated": stamp,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": self.from_, "messaging_service_sid": None, "num_media": "0",
            "num_segments": str(1 + len(self.body) // 160), "price": None,
            "price_unit": "USD", "sid": self.sid, "status": self.status,
            "subresource_uris": {"media": f"{base}/Media.json",
                                 "feedback": f"{base}/Feedback.json"},
            "to": self.to, "uri": f"{base}.json",
        }


class FakeTwilio(RequestHold):
    """Start with ``FakeTwilio(sid, token).start()``; ``stop()`` when done."""

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-token",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[FakeMessage] = []
        self.invalid_numbers: set[str] = set()
        self.requests = 0
        self._fail = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fake-twilio")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, n: int = 1) -> None:
        self._fail = n

    # --- HTTP ---------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes; with Nagle on, the body waits for the client's
            # delayed ACK (~40 ms a message), which would make this fake the bottleneck.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Twilio-Request-Id", "RQ" + uuid.uuid4().hex)
                self.end_headers()
                # the client may have died waiting (the kill tests do that on purpose)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def _error(self, status: int, code: int, message: str) -> None:
                self._reply(status, {"code": code, "message": message, "status": status,
                                     "more_info": f"https://www.twilio.com/docs/errors/{code}"})

            def _route(self) -> tuple[str, str | None] | None:
                m = _MESSAGES.match(urlsplit(self.path).path)
                if m is None:
                    self._error(404, 20404, f"The requested resource {self.path} was not found")
                    return None
                auth = self.headers.get("Authorization", "")
                expected = base64.b64encode(
                    f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                if auth != f"Basic {expected}" or m.group(1) != fake.account_sid:
                    self._error(401, 20003, "Authenticate")
                    return None
                return m.group(1), m.group(2)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                route = self._route()
                if route is None:
                    return
                with fake._lock:
                    fake.requests += 1
                    if fake._fail > 0:
                        fake._fail -= 1
                        self._error(500, 20500, "Internal Server Error")
                        return
                to, body = form.get("To", ""), form.get("Body", "")
                if not to:
                    self._error(400, 21604, "A 'To' phone number is required.")
                    return
                if not _E164.match(to) or to in fake.invalid_numbers:
                    self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
                    return
                if not body:
                    self._error(400, 21602, "Message body is required.")
                    return
                msg = FakeMessage(
                    sid="SM" + uuid.uuid4().hex, account_sid=fake.account_sid, to=to,
                    from_=form.get("From", ""), body=body,
                    status_callback=form.get("StatusCallback"), status="queued",
                    created=datetime.now(UTC), accepted_at=time.time())
                with fake._lock:
                    fake.messages.append(msg)
                    hold = fake.claim_hold()
                if hold is not None:
                    hold.wait(60)
                self._reply(201, msg.resource())

            def do_GET(self) -> None:
                route = self._route()
                if route is None:
                    return
                account, sid = route
                if sid is not None:
                    found = [m for m in fake.messages if m.sid == sid]
                    if not found:
                        self._error(404, 20404, f"The requested resource {self.path} was not "
                                    "found")
                        return
                    self._reply(200, found[0].resource())
                    return
                q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                items = [m for m in reversed(fake.messages)
                         if (not q.get("To") or m.to == q["To"])
                         and (not q.get("From") or m.from_ == q["From"])]
                size = int(q.get("PageSize", 50))
                uri = f"/2010-04-01/Accounts/{account}/Messages.json?PageSize={size}&Page=0"
                self._reply(200, {
                    "messages": [m.resource() for m in items[:size]], "end": min(
                        size, len(items)) - 1, "first_page_uri": uri, "next_page_uri": None,
                    "page": 0, "page_size": size, "previous_page_uri": None, "start": 0,
                    "uri": uri})

        return Handler
