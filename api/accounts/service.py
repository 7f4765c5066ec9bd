"""Account steps shared by the REST endpoints and the dashboard: logging in, sessions and their
cookies, password resets, API keys.

Secrets are made here and shown once; storage only ever sees their hashes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from litestar.datastructures import Cookie

from api.lib import mail
from api.lib.ratelimit import CSRF_COOKIE, SESSION_COOKIE
from api.lib.security import hash_password, new_api_key, new_token, token_hash, verify_password
from storage import accounts

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    from api.settings import AppSettings

SESSION_TTL = timedelta(days=14)
RESET_TTL = timedelta(hours=1)


async def authenticate(conn: AsyncConnection[Any], email: str,
                       password: str) -> accounts.User | None:
    """The user with this email and password, else None."""
    user = await accounts.find_user_by_email(conn, email)
    if user is None or not verify_password(user.password_hash, password):
        return None
    return user


async def open_session(conn: AsyncConnection[Any], user_id: int,
                       user_agent: str | None) -> tuple[str, str, datetime]:
    """A new browser session: (token for the cookie, CSRF token, expiry)."""
    token, csrf = new_token(), new_token()
    expires = datetime.now(UTC) + SESSION_TTL
    await accounts.create_session(conn, token_hash(token), user_id, csrf, expires, user_agent)
    return token, csrf, expires


def session_cookies(settings: AppSettings, token: str, csrf: str,
                    expires: datetime) -> list[Cookie]:
    """The session cookie (HTTP only) and the CSRF cookie scripts echo back."""
    secure = settings.public_url.startswith("https://")
    max_age = int(expires.timestamp() - time.time())
    return [Cookie(key=SESSION_COOKIE, value=token, httponly=True, samesite="lax",
                   secure=secure, max_age=max_age, path="/"),
            Cookie(key=CSRF_COOKIE, value=csrf, httponly=False, samesite="lax", secure=secure,
                   max_age=max_age, path="/")]


async def issue_api_key(conn: AsyncConnection[Any], user_id: int,
                        name: str | None) -> tuple[str, accounts.ApiKey]:
    """A new key: (the key, shown this once, and its stored row)."""
    key, prefix, digest = new_api_key()
    return key, await accounts.create_api_key(conn, user_id, prefix, digest, name)


async def send_reset_link(pool: AsyncConnectionPool, settings: AppSettings, email: str) -> None:
    """Email a one-hour reset token if an account uses ``email`` (silently nothing if not)."""
    async with pool.connection() as conn:
        user = await accounts.find_user_by_email(conn, email)
        if user is None:
            return
        token = new_token()
        await accounts.create_reset(conn, token_hash(token), user.id,
                                    datetime.now(UTC) + RESET_TTL)
    await mail.send(settings, _reset_email(settings, user.email, token))


async def reset_password(conn: AsyncConnection[Any], token: str, password: str) -> int | None:
    """Set a new password with an emailed token (every session ends); the user's id, or
    None if the token is unknown, used or expired."""
    user_id = await accounts.consume_reset(conn, token_hash(token))
    if user_id is not None:
        await accounts.set_password(conn, user_id, hash_password(password))
    return user_id


def _reset_email(settings: AppSettings, to: str, token: str) -> EmailMessage:
    link = f"{settings.public_url.rstrip('/')}/reset-password?token={token}"
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = "Reset your Rip City Ticket Dispatch password"
    msg.set_content(
        "Someone asked to reset the password of this account. If it was you, open\n\n"
        f"  {link}\n\nor send the token below to POST /api/v1/auth/password-reset/confirm "
        f"within one hour:\n\n  {token}\n\nIf it was not you, ignore this email.\n")
    return msg
