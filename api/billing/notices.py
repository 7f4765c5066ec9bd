"""Billing email: a failed payment (with the grace deadline) and the move back to free.

Sent after the database commit, off the event loop; a refused or unreachable SMTP server
is logged and never undoes the plan change (the state is in the database either way).
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING

from api.lib import mail

if TYPE_CHECKING:
    from api.billing.subscriptions import PlanChange
    from storage.settings import DeliverySettings


def compose(settings: DeliverySettings, change: PlanChange) -> EmailMessage | None:
    """The email a plan change deserves, or None (upgrades show in the app itself)."""
    if not change.email or change.kind not in ("payment_failed", "downgraded"):
        return None
    base = settings.public_url.rstrip("/")
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = change.email
    if change.kind == "payment_failed":
        deadline = change.grace_until.strftime("%Y-%m-%d %H:%M UTC") if change.grace_until \
            else "soon"
        msg["Subject"] = "Your Rip City premium payment failed"
        msg.set_content(
            "We could not charge your card for Rip City Ticket Dispatch premium.\n\n"
            f"Premium stays on until {deadline}. To keep it, update your card in the billing "
            f"portal:\n\n  {base}/billing  (or POST {base}/api/v1/billing/portal)\n\n"
            "If the payment still fails by then, your account moves to the free plan: SMS "
            "alerts stop and watchlist limits drop back.\n")
    else:
        msg["Subject"] = "Your Rip City account is now on the free plan"
        msg.set_content(
            "Your premium subscription has ended, so your account is on the free plan: "
            "email alerts keep working; SMS alerts, forecasts and the higher limits are off.\n\n"
            f"Upgrade again any time:\n\n  {base}/billing  (or POST "
            f"{base}/api/v1/billing/checkout)\n")
    return msg


async def send_notices(settings: DeliverySettings, changes: list[PlanChange]) -> int:
    """Email each change that warrants it; returns how many were sent."""
    sent = 0
    for change in changes:
        msg = compose(settings, change)
        if msg is not None and await mail.send(settings, msg):
            sent += 1
    return sent
