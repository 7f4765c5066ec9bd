"""Account email (password reset) over SMTP, sent off the event loop."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import TYPE_CHECKING

import anyio.to_thread

if TYPE_CHECKING:
    from storage.settings import DeliverySettings

logger = logging.getLogger(__name__)


def send_sync(settings: DeliverySettings, message: EmailMessage) -> None:
    """Deliver one message over SMTP (STARTTLS and AUTH as configured); blocking."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


async def send_password_reset(settings: DeliverySettings, to: str, token: str) -> bool:
    """Email a reset link; False (and a log line) if the SMTP server refused or is down."""
    link = f"{settings.public_url.rstrip('/')}/reset-password?token={token}"
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = "Reset your Rip City Ticket Dispatch password"
    msg.set_content(
        "Someone asked to reset the password of this account. If it was you, open\n\n"
        f"  {link}\n\nor send the token below to POST /api/v1/auth/password-reset/confirm "
        f"within one hour:\n\n  {token}\n\nIf it was not you, ignore this email.\n")
    try:
        await anyio.to_thread.run_sync(send_sync, settings, msg)
    except (OSError, smtplib.SMTPException) as err:
        logger.warning("password reset email to %s not sent: %s (check RIPCITY_SMTP_HOST/"
                       "RIPCITY_SMTP_PORT)", to, err)
        return False
    return True
