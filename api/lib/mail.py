"""The API's own email (password resets, billing notices) over SMTP, sent off the event loop."""

from __future__ import annotations

import logging
import smtplib
from typing import TYPE_CHECKING

import anyio.to_thread

if TYPE_CHECKING:
    from email.message import EmailMessage

    from storage.settings import DeliverySettings

logger = logging.getLogger(__name__)


def _send_sync(settings: DeliverySettings, message: EmailMessage) -> None:
    """Deliver one message over SMTP (STARTTLS and AUTH as configured); blocking."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


async def send(settings: DeliverySettings, message: EmailMessage) -> bool:
    """Deliver ``message`` without blocking the loop; False (and a log line) if the SMTP
    server refused it or is down."""
    try:
        await anyio.to_thread.run_sync(_send_sync, settings, message)
    except (OSError, smtplib.SMTPException) as err:
        logger.warning("email %r to %s not sent: %s (check RIPCITY_SMTP_HOST/"
                       "RIPCITY_SMTP_PORT)", message["Subject"], message["To"], err)
        return False
    return True
