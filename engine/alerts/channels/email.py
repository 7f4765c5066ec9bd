"""Email over SMTP (stdlib ``smtplib``): one kept-open connection per sending thread.

The dispatcher sends from several threads; each gets its own connection (an SMTP
conversation is strictly one message at a time) and reuses it for every later message.

STARTTLS and AUTH follow ``RIPCITY_SMTP_STARTTLS`` / ``RIPCITY_SMTP_USER`` /
``RIPCITY_SMTP_PASSWORD``. A 5xx reply to RCPT TO means the address bounces (permanent:
the channel is disabled for the user); 4xx replies and connection trouble are retried.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import threading
from typing import TYPE_CHECKING

from engine.alerts.channels.base import Outgoing, PermanentFailure, Sent, TransientFailure
from engine.alerts.messages import render_email

if TYPE_CHECKING:
    from storage.settings import DeliverySettings

logger = logging.getLogger(__name__)


class SmtpSender:
    channel = "email"

    def __init__(self, settings: DeliverySettings, timeout: float = 10.0) -> None:
        self._s = settings
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[smtplib.SMTP] = set()

    @property
    def _smtp(self) -> smtplib.SMTP | None:
        return getattr(self._local, "smtp", None)

    @_smtp.setter
    def _smtp(self, smtp: smtplib.SMTP | None) -> None:
        old = self._smtp
        with self._lock:
            self._open.discard(old)  # type: ignore[arg-type]
            if smtp is not None:
                self._open.add(smtp)
        self._local.smtp = smtp

    def _connect(self) -> smtplib.SMTP:
        s = self._s
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self._timeout)
        if s.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if s.smtp_user and s.smtp_password:
            smtp.login(s.smtp_user, s.smtp_password)
        return smtp

    def send(self, message: Outgoing) -> Sent:
        msg = render_email(key=message.key, to=message.to, sender=self._s.smtp_from,
                           payloads=message.payloads, public_url=self._s.public_url,
                           secret=self._s.secret_key or "", user_id=message.user_id,
                           unsubscribe_key=message.unsubscribe_key)
        for attempt in (1, 2):  # a kept-open connection may have been closed by the server
            try:
                if self._smtp is None:
                    self._smtp = self._connect()
                self._smtp.send_message(msg)
                return Sent(provider_id=str(msg["Message-ID"]), status="accepted")
            except smtplib.SMTPRecipientsRefused as err:
                code, reply = next(iter(err.recipients.values()))
                text = f"SMTP {code} for {message.to}: {reply.decode(errors='replace')}"
                if code >= 500:
                    raise PermanentFailure(text) from err
                raise TransientFailure(text) from err
            except smtplib.SMTPServerDisconnected as err:
                self._drop()
                if attempt == 2:
                    raise TransientFailure(f"SMTP server disconnected: {err}") from err
            except smtplib.SMTPResponseException as err:
                self._drop()
                raise TransientFailure(
                    f"SMTP {err.smtp_code}: {err.smtp_error.decode(errors='replace')}"
                ) from err
            except (OSError, smtplib.SMTPException) as err:
                self._drop()
                raise TransientFailure(
                    f"SMTP {self._s.smtp_host}:{self._s.smtp_port} unreachable: {err} "
                    "(check RIPCITY_SMTP_HOST / RIPCITY_SMTP_PORT)") from err
        raise AssertionError("unreachable")

    def lookup(self, message: Outgoing) -> Sent | None:
        """SMTP cannot be asked; a resend keeps the same Message-ID (receivers dedupe)."""
        return None

    def _drop(self) -> None:
        """Close this thread's connection (the next message opens a fresh one)."""
        smtp = self._smtp
        if smtp is not None:
            self._smtp = None
            _quit(smtp)

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            conns, self._open = list(self._open), set()
        for smtp in conns:
            _quit(smtp)
        self._local = threading.local()


def _quit(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError, smtplib.SMTPException):
        smtp.quit()
