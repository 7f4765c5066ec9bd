"""Account steps shared by the REST endpoints and the dashboard: signing up and verifying the
address, logging in (throttled), sessions and their cookies, password resets, API keys.

Secrets are made here and shown once; storage only ever sees their hashes. Sign-up and
reset answer the same whether or not an address has an account: the same password hashing
runs, and what differs (which email goes out) happens after the answer, in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from litestar.datastructures import Cookie

from api.accounts import emails
from api.accounts.passwords import check_strength
from api.lib import mail
from api.lib.errors import TooManyRequests, Unauthorized
from api.lib.ratelimit import CSRF_COOKIE, SESSION_COOKIE
from api.lib.security import hash_password, new_api_key, new_token, token_hash, verify_password
from api.lib.throttle import (
    ACCOUNT_FAILURES,
    ADDRESS_FAILURES,
    BURST_AT,
    BURST_NOTICE,
    EMAILS_PER_ADDRESS,
)
from storage import accounts

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from email.message import EmailMessage

    from psycopg import AsyncConnection

    from api.lib.runtime import Runtime
    from api.settings import AppSettings

logger = logging.getLogger(__name__)

SESSION_TTL = timedelta(days=14)
RESET_TTL = timedelta(hours=1)
VERIFY_TTL = timedelta(days=1)
REVOKE_TTL = timedelta(days=1)
#: a browser session this young may delete the account without the password again
RECENT_LOGIN = timedelta(minutes=10)
_background: set[asyncio.Task[None]] = set()


@cache
def _dummy_hash() -> str:
    """An argon2 hash no password matches: unknown accounts cost the same work."""
    return hash_password(new_token())


def _later(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` after the answer (kept referenced until done; failures logged)."""
    async def run() -> None:
        try:
            await work
        except Exception:
            logger.exception("account email work failed")

    task = asyncio.get_running_loop().create_task(run())
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _email(runtime: Runtime, message: EmailMessage) -> bool:
    """Send an email someone asked for, unless its address had its share lately."""
    assert runtime.throttle is not None
    to = str(message["To"]).lower()
    if not await runtime.throttle.count(EMAILS_PER_ADDRESS, "email", to):
        logger.info("not sending %r to %s: too many emails to it lately", message["Subject"],
                    to)
        return False
    return await mail.send(runtime.settings, message)


# --- sign-up and email verification --------------------------------------------------------

async def sign_up(runtime: Runtime, email: str, password: str,
                  display_name: str | None) -> None:
    """Create an unverified account and email its link; an address that already has an
    account gets a note instead. The caller learns neither."""
    check_strength(password, email, display_name)
    digest = hash_password(password)  # for both: the answer takes as long either way
    _later(_finish_sign_up(runtime, email, digest, display_name))


async def _finish_sign_up(runtime: Runtime, email: str, digest: str,
                          display_name: str | None) -> None:
    async with runtime.pool.connection() as conn:
        row = await accounts.create_user_if_new(conn, email, digest, display_name)
        if row is None:
            await _email(runtime, emails.already_registered(runtime.settings, email.strip()))
            return
        token = await _verification_token(conn, row)
    await _email(runtime, emails.verify_email(runtime.settings, row.email, token))


async def _verification_token(conn: AsyncConnection[Any], user: accounts.User) -> str:
    token = new_token()
    await accounts.create_account_token(conn, token_hash(token), user.id, "verify_email",
                                        user.email, datetime.now(UTC) + VERIFY_TTL)
    return token


async def send_verification(runtime: Runtime, user_id: int) -> bool:
    """Email a new verification link to the account's address (False if throttled)."""
    async with runtime.pool.connection() as conn:
        user = await accounts.get_user(conn, user_id)
        if user.email_verified_at is not None:
            return True
        token = await _verification_token(conn, user)
    return await _email(runtime, emails.verify_email(runtime.settings, user.email, token))


async def verify_email(conn: AsyncConnection[Any], token: str) -> int | None:
    """Mark the address of an emailed token verified; the user's id, or None if the token
    is unknown, used, expired or for an address the account no longer has."""
    found = await accounts.consume_account_token(conn, token_hash(token), "verify_email")
    if found is None or not await accounts.mark_email_verified(conn, found[0], found[1] or ""):
        return None
    return found[0]


# --- logging in ----------------------------------------------------------------------------

async def authenticate(runtime: Runtime, email: str, password: str,
                       client: str | None) -> accounts.User:
    """The user with this email and password; :class:`Unauthorized` if wrong,
    :class:`TooManyRequests` (with the wait) while failures throttle the account or the
    client address. Unknown emails run the same argon2 verification."""
    throttle = runtime.throttle
    assert throttle is not None
    who, where = ("login", email.strip().lower()), ("login-ip", client or "unknown")
    wait = max(await throttle.wait_for(ACCOUNT_FAILURES, *who),
               await throttle.wait_for(ADDRESS_FAILURES, *where))
    if wait:
        raise TooManyRequests(
            f"Too many failed logins for this account or from your address: wait {wait} s "
            "(Retry-After) and try again, or reset the password.", retry_after=wait,
            headers={"Retry-After": str(wait)})
    async with runtime.pool.connection() as conn:
        user = await accounts.find_user_by_email(conn, email)
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    if user is not None and verify_password(stored, password):
        await throttle.reset(*who)
        return user
    if user is None:
        verify_password(stored, password)
    await throttle.count(ACCOUNT_FAILURES, *who)
    await throttle.count(ADDRESS_FAILURES, *where)
    if user is not None and await throttle.used(ACCOUNT_FAILURES[1], *who) >= BURST_AT and \
            await throttle.count(BURST_NOTICE, "burst", who[1]):
        failures = await throttle.used(ACCOUNT_FAILURES[1], *who)
        _later(_burst_notice(runtime, user, failures))
    raise Unauthorized("Wrong email or password: check both, or reset the password "
                       "with POST /api/v1/auth/password-reset.")


async def _burst_notice(runtime: Runtime, user: accounts.User, failures: int) -> None:
    if user.email_verified_at is not None:
        await mail.send(runtime.settings, emails.login_burst(runtime.settings, user.email,
                                                             failures))


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


def recently_logged_in(logged_in_at: datetime | None) -> bool:
    return logged_in_at is not None and datetime.now(UTC) - logged_in_at < RECENT_LOGIN


async def confirm_identity(conn: AsyncConnection[Any], user_id: int, password: str | None,
                           logged_in_at: datetime | None) -> None:
    """For destructive actions: the password typed now, or a browser session logged in
    within :data:`RECENT_LOGIN`; an API key alone is never enough."""
    if password:
        row = await accounts.get_user(conn, user_id)
        if verify_password(row.password_hash, password):
            return
        raise Unauthorized("The password is wrong: this action needs your current password.")
    if recently_logged_in(logged_in_at):
        return
    raise Unauthorized("This action needs your password: send {\"password\": ...} (an API "
                       "key alone is not enough), or log in again in the browser and retry "
                       f"within {int(RECENT_LOGIN.total_seconds() // 60)} minutes.")


# --- API keys and password resets ----------------------------------------------------------

async def issue_api_key(conn: AsyncConnection[Any], user_id: int,
                        name: str | None) -> tuple[str, accounts.ApiKey]:
    """A new key: (the key, shown this once, and its stored row)."""
    key, prefix, digest = new_api_key()
    return key, await accounts.create_api_key(conn, user_id, prefix, digest, name)


async def send_reset_link(runtime: Runtime, email: str) -> None:
    """Email a one-hour reset token if an account uses ``email`` (nothing if not: the
    caller cannot tell); the email lists the live API keys with a link revoking them all."""
    _later(_finish_reset(runtime, email))


async def _finish_reset(runtime: Runtime, email: str) -> None:
    async with runtime.pool.connection() as conn:
        user = await accounts.find_user_by_email(conn, email)
        if user is None:
            return
        token, revoke = new_token(), new_token()
        now = datetime.now(UTC)
        await accounts.create_reset(conn, token_hash(token), user.id, now + RESET_TTL)
        await accounts.create_account_token(conn, token_hash(revoke), user.id, "revoke_keys",
                                            None, now + REVOKE_TTL)
        keys = [k for k in await accounts.list_api_keys(conn, user.id) if k.revoked_at is None]
    await _email(runtime, emails.reset(runtime.settings, user.email, token, keys, revoke))


async def reset_password(conn: AsyncConnection[Any], token: str, password: str) -> int | None:
    """Set a new password with an emailed token (every session and every other reset token
    ends); the user's id, or None if the token is unknown, used or expired. Run in a
    transaction: a weak password raises and leaves the token unused."""
    user_id = await accounts.consume_reset(conn, token_hash(token))
    if user_id is not None:
        user = await accounts.get_user(conn, user_id)
        check_strength(password, user.email, user.display_name, field="new_password")
        await accounts.set_password(conn, user_id, hash_password(password))
        await accounts.mark_email_verified(conn, user_id, user.email)  # the link proved it
    return user_id


async def change_password(conn: AsyncConnection[Any], user_id: int, current: str,
                          new: str) -> None:
    """Change the password knowing the current one (sessions and reset tokens end)."""
    row = await accounts.get_user(conn, user_id)
    if not verify_password(row.password_hash, current):
        raise Unauthorized("current_password is wrong; if you forgot it, use "
                           "POST /api/v1/auth/password-reset.")
    check_strength(new, row.email, row.display_name, field="new_password")
    await accounts.set_password(conn, user_id, hash_password(new))


async def revoke_all_keys(conn: AsyncConnection[Any], token: str) -> tuple[int, int] | None:
    """Revoke every key of the account a reset email's link names: (user id, how many)."""
    found = await accounts.consume_account_token(conn, token_hash(token), "revoke_keys")
    if found is None:
        return None
    return found[0], await accounts.revoke_all_api_keys(conn, found[0])
