"""Email over SMTP (stdlib ``smtplib``): one kept-open connection per dispatcher.

STARTTLS and AUTH follow ``RIPCITY_SMTP_STARTTLS`` / ``RIPCITY_SMTP_USER`` /
``RIPCITY_SMTP_PASSWORD``. A 5xx reply to RCPT TO means the address bounces (permanent:
the channel is disabled for the user); 4xx replies and connection trouble are retried.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from typing import TYPE_CHECKING

from engine.alerts.render import render_email
from engine.alerts.senders import Outgoing, PermanentFailure, Sent, TransientFailure

if TYPE_CHECKING:
    from storage.config import Settings

logger = logging.getLogger(__name__)


class SmtpSender:
    channel = "email"

    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        self._s = settings
        self._timeout = timeout
        self._smtp: smtplib.SMTP | None = None

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
                           secret=self._s.secret_key, user_id=message.user_id)
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
                self.close()
                if attempt == 2:
                    raise TransientFailure(f"SMTP server disconnected: {err}") from err
            except smtplib.SMTPResponseException as err:
                self.close()
                raise TransientFailure(
                    f"SMTP {err.smtp_code}: {err.smtp_error.decode(errors='replace')}"
                ) from err
            except (OSError, smtplib.SMTPException) as err:
                self.close()
                raise TransientFailure(
                    f"SMTP {self._s.smtp_host}:{self._s.smtp_port} unreachable: {err} "
                    "(check RIPCITY_SMTP_HOST / RIPCITY_SMTP_PORT)") from err
        raise AssertionError("unreachable")

    def lookup(self, message: Outgoing) -> Sent | None:
        """SMTP cannot be asked; a resend keeps the same Message-ID (receivers dedupe)."""
        return None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None
