"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it accepts: for the tests and,
in ``ripcity run``'s sandbox mode, the inbox a local user reads at ``/_sandbox/mail``.

``bounce`` addresses get ``550 5.1.1`` at RCPT TO (a bounced address); ``hold()`` makes
the next RCPT TO wait until ``release()`` (to kill a sender mid-conversation, before the
message was accepted).
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from sandbox.vendors.hold import RequestHold


@dataclasses.dataclass
class Received:
    """One accepted message; parsed on first use (a parse per DATA would make this server,
    not the code under test, the bottleneck of the alerts benchmark)."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    accepted_at: float
    _parsed: EmailMessage | None = dataclasses.field(default=None, repr=False)

    @property
    def message(self) -> EmailMessage:
        if self._parsed is None:
            self._parsed = email.message_from_bytes(  # type: ignore[assignment]
                self.raw, policy=email.policy.default)
        return self._parsed  # type: ignore[return-value]

    def header(self, name: str) -> str | None:
        """One header without parsing the message (what the benchmark needs)."""
        head = self.raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
        prefix = name.lower() + ":"
        for line in head.split("\r\n"):
            if line.lower().startswith(prefix):
                return line[len(prefix):].strip()
        return None


class _Handler:
    def __init__(self, box: SmtpBox) -> None:
        self.box = box

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        hold = self.box.claim_hold()
        if hold is not None:
            await asyncio.get_running_loop().run_in_executor(None, hold.wait, 60)
        if address.lower() in self.box.bounce:
            return f"550 5.1.1 <{address}>: Recipient address rejected: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.content, time.time()))
        self.box.arrived.set()
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpBox(RequestHold):
    """``SmtpBox().start()``; ``.port``; ``.received``; ``stop()``."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Received] = []
        self.bounce: set[str] = set()
        self.arrived = threading.Event()
        self.port = 0
        self._controller: Controller | None = None

    def start(self, port: int = 0) -> SmtpBox:
        """Listen on 127.0.0.1:``port`` (0: a free port)."""
        for _ in range(1 if port else 5):
            self.port = port or _free_port()
            controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
            try:
                controller.start()
            except (OSError, RuntimeError):
                continue
            self._controller = controller
            return self
        raise RuntimeError(f"could not start the SMTP inbox on port {port}" if port else
                           "could not start the test SMTP server on a free port")

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received

    def stop(self) -> None:
        self.release()
        if self._controller is not None:
            self._controller.stop()
