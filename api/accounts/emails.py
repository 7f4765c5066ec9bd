"""The account emails the API sends: verify an address, "you already have an account",
password reset (with the live API keys and a link that revokes them all), and a warning to
the owner when their account sees a burst of failed logins."""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.settings import AppSettings
    from storage.accounts import ApiKey

SITE = "Rip City Ticket Dispatch"


def _message(settings: AppSettings, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def _url(settings: AppSettings, path: str) -> str:
    return settings.public_url.rstrip("/") + path


def verify_email(settings: AppSettings, to: str, token: str) -> EmailMessage:
    link = _url(settings, f"/verify-email?token={token}")
    return _message(settings, to, f"Confirm your email for {SITE}", (
        f"Someone (we hope you) signed up for {SITE} with this address. To confirm it and "
        f"log in, open\n\n  {link}\n\nor send the token below to POST "
        f"/api/v1/auth/verify-email within one day:\n\n  {token}\n\n"
        "Until then no alert or notice is sent here. If it was not you, ignore this email: "
        "nothing will be sent to this address.\n"))


def already_registered(settings: AppSettings, to: str) -> EmailMessage:
    return _message(settings, to, f"You already have a {SITE} account", (
        f"Someone tried to sign up for {SITE} with this address, which already has an "
        f"account. If it was you, log in at {_url(settings, '/login')}, or reset the "
        f"password at {_url(settings, '/forgot')}.\n\nIf it was not you, ignore this "
        "email: nothing changed.\n"))


def reset(settings: AppSettings, to: str, token: str, keys: list[ApiKey],
          revoke_token: str) -> EmailMessage:
    link = _url(settings, f"/reset-password?token={token}")
    body = (
        "Someone asked to reset the password of this account. If it was you, open\n\n"
        f"  {link}\n\nor send the token below to POST /api/v1/auth/password-reset/confirm "
        f"within one hour:\n\n  {token}\n\nIf it was not you, ignore this email.\n")
    if keys:
        lines = "\n".join(f"  - {k.name or '(no name)'}  rck_{k.prefix}_…  created "
                          f"{k.created_at:%Y-%m-%d}" for k in keys)
        revoke = _url(settings, f"/account/keys/revoke-all?token={revoke_token}")
        body += (f"\nThese API keys can use your account, and a new password does not stop "
                 f"them:\n\n{lines}\n\nIf you do not recognise one, revoke them all in one "
                 f"click (valid for a day):\n\n  {revoke}\n")
    return _message(settings, to, f"Reset your {SITE} password", body)


def login_burst(settings: AppSettings, to: str, failures: int) -> EmailMessage:
    return _message(settings, to, f"Failed logins on your {SITE} account", (
        f"There were {failures} failed attempts to log in to your account in the last "
        "15 minutes, so further attempts are slowed down for a while. If it was you, wait a "
        f"few minutes or reset your password at {_url(settings, '/forgot')}. If it was not "
        "you, your password held; a long unique password keeps it that way.\n"))
