"""The "hold the next request" control the SMTP inbox and the Twilio-format server share:
a test arms it, a client's request stops mid-conversation, the test kills or restarts the
client, then releases it."""

from __future__ import annotations

import threading


class RequestHold:
    """``hold()`` makes the next request wait (up to a minute) until ``release()``;
    ``held`` is set once a request is waiting."""

    def __init__(self) -> None:
        self.held = threading.Event()
        self._hold: threading.Event | None = None

    def hold(self) -> None:
        self._hold = threading.Event()
        self.held.clear()

    def release(self) -> None:
        if self._hold is not None:
            self._hold.set()

    def claim_hold(self) -> threading.Event | None:
        """For the server's request handler: the armed hold, now disarmed (the request
        waits on it), with ``held`` set; None when no hold is armed."""
        hold, self._hold = self._hold, None
        if hold is not None:
            self.held.set()
        return hold
