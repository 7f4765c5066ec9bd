"""Accounts: users, sessions, password resets, API keys, who a credential belongs to, the
account's quiet hours and its alert channels (opt-outs, disabled numbers).

Secrets never arrive here in the clear: callers pass the SHA-256 of a session token, reset
token or API key, and the argon2 hash of a password. A user's plan is computed in SQL from
``users.plan`` and the paid-up subscriptions (:data:`storage.billing.PREMIUM_STATUSES`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

import psycopg.errors
from psycopg import sql

from storage.billing import PREMIUM_STATUSES
from storage.db import record_row
from storage.errors import Conflict, NotFound

if TYPE_CHECKING:
    from psycopg import AsyncConnection


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    """A user with the plan they have now."""

    id: int
    email: str
    display_name: str | None
    phone: str | None
    created_at: datetime
    password_hash: str | None
    timezone: str | None
    quiet_start: time | None
    quiet_end: time | None
    plan: str  # free | premium
    email_verified_at: datetime | None = None
    phone_verified_at: datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key without its secret."""

    id: int
    name: str | None
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class KeyHolder:
    """The live key with a lookup prefix, and its user (the caller compares ``key_hash``)."""

    key_id: int
    key_hash: str
    user_id: int
    email: str
    plan: str


@dataclasses.dataclass(frozen=True, slots=True)
class SessionHolder:
    """The user of an unexpired session, and the session's CSRF token."""

    csrf_token: str
    user_id: int
    email: str
    plan: str
    logged_in_at: datetime  # when the password was typed for this session


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelState:
    """An alert channel of a user: opted out, or disabled by the dispatcher (and why)."""

    channel: str
    opted_out: bool
    disabled_reason: str | None
    last_sent_at: datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class AlertSettings:
    """The account's alert preferences: the time zone and the daily alert cap."""

    timezone: str | None = None
    daily_alert_cap: int | None = None


#: The user's plan: premium by ``users.plan`` or by a paid-up subscription.
_PLAN = f"""CASE WHEN u.plan = 'premium' OR EXISTS (SELECT 1 FROM subscriptions s
    WHERE s.user_id = u.id AND s.status = ANY(ARRAY{sorted(PREMIUM_STATUSES)!r})
    AND s.plan <> 'free') THEN 'premium' ELSE 'free' END"""
_USER_COLS = f"""u.id, u.email, u.display_name, u.phone, u.created_at, u.password_hash,
    u.timezone, u.quiet_start, u.quiet_end, {_PLAN} AS plan, u.email_verified_at,
    u.phone_verified_at"""
_USER_BY_ID = f"SELECT {_USER_COLS} FROM users u WHERE u.id = %s"
_USER_BY_EMAIL = f"SELECT {_USER_COLS} FROM users u WHERE lower(u.email) = lower(%s)"
_INSERT_USER = ("INSERT INTO users (email, password_hash, display_name) VALUES (%s, %s, %s) "
                "RETURNING id")
_INSERT_NEW_USER = ("INSERT INTO users (email, password_hash, display_name) VALUES (%s, %s, %s) "
                    "ON CONFLICT DO NOTHING RETURNING id")
#: Columns :func:`update_user` may change (a phone number only through :func:`verify_phone`).
_USER_FIELDS = frozenset({"display_name", "timezone"})
_UPDATE_USER = "UPDATE users SET {sets}, updated_at = now() WHERE id = %(id)s"
_SET_PASSWORD = """UPDATE users SET password_hash = %s, updated_at = now(),
    unsubscribe_key = replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
WHERE id = %s"""
_END_SESSIONS = "DELETE FROM api_sessions WHERE user_id = %s"
_END_RESETS = ("UPDATE password_resets SET used_at = now() WHERE user_id = %s "
               "AND used_at IS NULL")
_UNSUBSCRIBE_KEY = "SELECT unsubscribe_key FROM users WHERE id = %s"
#: The number moves to this account: verified elsewhere before, it is released there.
_RELEASE_PHONE = """UPDATE users SET phone = NULL, phone_verified_at = NULL, updated_at = now()
WHERE phone = %(phone)s AND id <> %(id)s"""
_VERIFY_PHONE = """UPDATE users SET phone = %(phone)s, phone_verified_at = now(),
    updated_at = now() WHERE id = %(id)s"""
_CLEAR_PHONE = """UPDATE users SET phone = NULL, phone_verified_at = NULL, updated_at = now()
WHERE id = %s"""
_VERIFY_EMAIL = """UPDATE users SET email_verified_at = coalesce(email_verified_at, now()),
    updated_at = now() WHERE id = %s AND lower(email) = lower(%s) RETURNING id"""
_INSERT_TOKEN = """INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at)
VALUES (%s, %s, %s, %s, %s)"""
_CONSUME_TOKEN = """UPDATE account_tokens SET used_at = now()
WHERE token_hash = %s AND purpose = %s AND used_at IS NULL AND expires_at > now()
RETURNING user_id, email"""
_REVOKE_ALL_KEYS = """UPDATE api_keys SET revoked_at = now()
WHERE user_id = %s AND revoked_at IS NULL"""
_DELETE_USER = "DELETE FROM users WHERE id = %s"
# a Stripe webhook locks the subscription, then the user: deleting takes them in that order
# too, or a subscription.deleted arriving mid-delete deadlocks with the cascade
_LOCK_SUBSCRIPTIONS = "SELECT 1 FROM subscriptions WHERE user_id = %s ORDER BY id FOR UPDATE"
_INSERT_SESSION = """
INSERT INTO api_sessions (token_hash, user_id, csrf_token, expires_at, user_agent)
VALUES (%s, %s, %s, %s, %s)
"""
_PRUNE_SESSIONS = "DELETE FROM api_sessions WHERE user_id = %s AND expires_at < now()"
_DELETE_SESSION = "DELETE FROM api_sessions WHERE token_hash = %s"
_INSERT_RESET = ("INSERT INTO password_resets (token_hash, user_id, expires_at) "
                 "VALUES (%s, %s, %s)")
_CONSUME_RESET = """
UPDATE password_resets SET used_at = now() WHERE token_hash = %s AND used_at IS NULL
AND expires_at > now() RETURNING user_id
"""
_KEY_COLS = "id, name, prefix, created_at, last_used_at, revoked_at"
_INSERT_KEY = f"""INSERT INTO api_keys (user_id, prefix, key_hash, name) VALUES (%s, %s, %s, %s)
RETURNING {_KEY_COLS}"""
_LIST_KEYS = f"SELECT {_KEY_COLS} FROM api_keys WHERE user_id = %s ORDER BY id"
_REVOKE_KEY = """
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE id = %s AND user_id = %s RETURNING id
"""
_KEY_HOLDER = f"""
SELECT k.id AS key_id, k.key_hash, u.id AS user_id, u.email, {_PLAN} AS plan
FROM api_keys k JOIN users u ON u.id = k.user_id
WHERE k.prefix = %s AND k.revoked_at IS NULL
"""
_TOUCH_KEY = "UPDATE api_keys SET last_used_at = now() WHERE id = %s"
_SESSION_HOLDER = f"""
SELECT s.csrf_token, u.id AS user_id, u.email, {_PLAN} AS plan, s.created_at AS logged_in_at
FROM api_sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = %s AND s.expires_at > now()
"""
_QUIET_HOURS = """
WITH old AS (SELECT quiet_start, quiet_end FROM users WHERE id = %(u)s FOR UPDATE),
     acct AS (UPDATE users SET quiet_start = %(s)s, quiet_end = %(e)s,
                               updated_at = now() WHERE id = %(u)s)
UPDATE alert_rules r SET quiet_start = %(s)s, quiet_end = %(e)s,
                         quiet_timezone = NULL, updated_at = now()
FROM old
WHERE r.user_id = %(u)s
  AND r.quiet_start IS NOT DISTINCT FROM old.quiet_start
  AND r.quiet_end IS NOT DISTINCT FROM old.quiet_end
  AND (r.quiet_timezone IS NULL OR r.quiet_timezone = (
       SELECT timezone FROM users WHERE id = %(u)s))
"""
_ALERT_SETTINGS = "SELECT timezone, daily_alert_cap FROM users WHERE id = %s"
_CHANNELS = """SELECT channel, opted_out, disabled_reason, last_sent_at
FROM alert_user_channels WHERE user_id = %s"""
#: Opt the users picked by ``{who}`` out of (or back into) one channel.
_OPT_OUT = """
INSERT INTO alert_user_channels (user_id, channel, opted_out, opted_out_at)
SELECT id, %(channel)s, %(out)s, CASE WHEN %(out)s THEN now() END FROM users WHERE {who}
ON CONFLICT (user_id, channel) DO UPDATE SET opted_out = EXCLUDED.opted_out,
    opted_out_at = EXCLUDED.opted_out_at, updated_at = now()
"""
_OPT_OUT_BY_ID = _OPT_OUT.format(who="id = %(user_id)s")
_OPT_OUT_BY_PHONE = _OPT_OUT.format(who="phone = %(phone)s AND phone_verified_at IS NOT NULL")
_DISABLE_CHANNEL = """
INSERT INTO alert_user_channels (user_id, channel, disabled_reason, disabled_at)
VALUES (%s, %s, %s, now())
ON CONFLICT (user_id, channel) DO UPDATE SET
    disabled_reason = EXCLUDED.disabled_reason, disabled_at = now(), updated_at = now()
"""


# --- users ---------------------------------------------------------------------------------

async def create_user(conn: AsyncConnection[Any], email: str, password_hash: str,
                      display_name: str | None) -> User:
    """A new user; :class:`Conflict` if the email is taken."""
    try:
        cur = await conn.execute(_INSERT_USER, (email.strip(), password_hash, display_name))
        row = await cur.fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"An account with the email {email!r} already exists: log in, or reset "
                       "its password with POST /api/v1/auth/password-reset.") from None
    assert row is not None
    return await get_user(conn, row[0])


async def create_user_if_new(conn: AsyncConnection[Any], email: str, password_hash: str,
                             display_name: str | None) -> User | None:
    """A new user, or None if the email is taken (sign-up must not say which)."""
    cur = await conn.execute(_INSERT_NEW_USER, (email.strip(), password_hash, display_name))
    row = await cur.fetchone()
    return None if row is None else await get_user(conn, row[0])


async def get_user(conn: AsyncConnection[Any], user_id: int) -> User:
    cur = conn.cursor(row_factory=record_row(User))
    await cur.execute(_USER_BY_ID, (user_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound("This account no longer exists; sign up again.")
    return row


async def find_user_by_email(conn: AsyncConnection[Any], email: str) -> User | None:
    cur = conn.cursor(row_factory=record_row(User))
    await cur.execute(_USER_BY_EMAIL, (email.strip(),))
    return await cur.fetchone()


async def update_user(conn: AsyncConnection[Any], user_id: int, **fields: object) -> None:
    """Change the given profile fields (``display_name``, ``phone``, ``timezone``)."""
    if not fields:
        return
    assert _USER_FIELDS.issuperset(fields), fields
    sets = sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k))
                              for k in fields)
    await conn.execute(sql.SQL(_UPDATE_USER).format(sets=sets), {**fields, "id": user_id})


async def set_password(conn: AsyncConnection[Any], user_id: int, password_hash: str) -> None:
    """New password: every session and every unused reset token of the user ends, and the
    unsubscribe links sent so far stop working (the user's unsubscribe key changes)."""
    await conn.execute(_SET_PASSWORD, (password_hash, user_id))
    await conn.execute(_END_SESSIONS, (user_id,))
    await conn.execute(_END_RESETS, (user_id,))


async def unsubscribe_key(conn: AsyncConnection[Any], user_id: int) -> str | None:
    """The user's unsubscribe material (:mod:`storage.unsubscribe`); None if no such user."""
    cur = await conn.execute(_UNSUBSCRIBE_KEY, (user_id,))
    row = await cur.fetchone()
    return None if row is None else str(row[0])


async def verify_phone(conn: AsyncConnection[Any], user_id: int, phone: str) -> None:
    """Save a number whose texted code the user typed; an account that had it verified
    before loses it (a number is verified for one account at a time). Run in a transaction."""
    args = {"phone": phone, "id": user_id}
    await conn.execute(_RELEASE_PHONE, args)
    await conn.execute(_VERIFY_PHONE, args)


async def clear_phone(conn: AsyncConnection[Any], user_id: int) -> None:
    await conn.execute(_CLEAR_PHONE, (user_id,))


async def mark_email_verified(conn: AsyncConnection[Any], user_id: int, email: str) -> bool:
    """The user proved ``email`` is theirs (False if it is no longer their address)."""
    cur = await conn.execute(_VERIFY_EMAIL, (user_id, email))
    return await cur.fetchone() is not None


async def create_account_token(conn: AsyncConnection[Any], token_hash: str, user_id: int,
                               purpose: str, email: str | None, expires_at: datetime) -> None:
    """Store an emailed one-time token (``verify_email`` or ``revoke_keys``)."""
    await conn.execute(_INSERT_TOKEN, (token_hash, user_id, purpose, email, expires_at))


async def consume_account_token(conn: AsyncConnection[Any], token_hash: str,
                                purpose: str) -> tuple[int, str | None] | None:
    """(user id, email) of a valid unused token for ``purpose`` (marked used), else None."""
    cur = await conn.execute(_CONSUME_TOKEN, (token_hash, purpose))
    row = await cur.fetchone()
    return None if row is None else (int(row[0]), row[1])


async def delete_user(conn: AsyncConnection[Any], user_id: int) -> None:
    """Delete the account; foreign keys cascade to keys, sessions, watchlists, rules, alerts."""
    async with conn.transaction():
        await conn.execute(_LOCK_SUBSCRIPTIONS, (user_id,))
        await conn.execute(_DELETE_USER, (user_id,))


# --- sessions and password resets ----------------------------------------------------------

async def create_session(conn: AsyncConnection[Any], session_hash: str, user_id: int,
                         csrf_token: str, expires_at: datetime, user_agent: str | None) -> None:
    """Store a session (and drop the user's expired ones)."""
    await conn.execute(_INSERT_SESSION, (session_hash, user_id, csrf_token, expires_at,
                                         (user_agent or "")[:300]))
    await conn.execute(_PRUNE_SESSIONS, (user_id,))


async def delete_session(conn: AsyncConnection[Any], session_hash: str) -> None:
    await conn.execute(_DELETE_SESSION, (session_hash,))


async def create_reset(conn: AsyncConnection[Any], reset_hash: str, user_id: int,
                       expires_at: datetime) -> None:
    await conn.execute(_INSERT_RESET, (reset_hash, user_id, expires_at))


async def consume_reset(conn: AsyncConnection[Any], reset_hash: str) -> int | None:
    """The user id of a valid unused reset token (marked used), else None."""
    cur = await conn.execute(_CONSUME_RESET, (reset_hash,))
    row = await cur.fetchone()
    return None if row is None else int(row[0])


# --- API keys and the callers they identify ------------------------------------------------

async def create_api_key(conn: AsyncConnection[Any], user_id: int, prefix: str,
                         key_hash: str, name: str | None) -> ApiKey:
    cur = conn.cursor(row_factory=record_row(ApiKey))
    await cur.execute(_INSERT_KEY, (user_id, prefix, key_hash, name))
    row = await cur.fetchone()
    assert row is not None
    return row


async def list_api_keys(conn: AsyncConnection[Any], user_id: int) -> list[ApiKey]:
    cur = conn.cursor(row_factory=record_row(ApiKey))
    await cur.execute(_LIST_KEYS, (user_id,))
    return await cur.fetchall()


async def revoke_api_key(conn: AsyncConnection[Any], user_id: int, key_id: int) -> None:
    """Revoke one of the user's keys; :class:`NotFound` if they have no such key."""
    cur = await conn.execute(_REVOKE_KEY, (key_id, user_id))
    if await cur.fetchone() is None:
        raise NotFound(f"You have no API key with id {key_id}; list yours with "
                       "GET /api/v1/api-keys.")


async def revoke_all_api_keys(conn: AsyncConnection[Any], user_id: int) -> int:
    """Revoke every live key of the user; how many."""
    cur = await conn.execute(_REVOKE_ALL_KEYS, (user_id,))
    return cur.rowcount


async def key_holder(conn: AsyncConnection[Any], prefix: str) -> KeyHolder | None:
    """The live key with this lookup prefix and its user."""
    cur = conn.cursor(row_factory=record_row(KeyHolder))
    await cur.execute(_KEY_HOLDER, (prefix,))
    return await cur.fetchone()


async def touch_api_key(conn: AsyncConnection[Any], key_id: int) -> None:
    """Record that the key was just used."""
    await conn.execute(_TOUCH_KEY, (key_id,))


async def session_holder(conn: AsyncConnection[Any], session_hash: str
                         ) -> SessionHolder | None:
    """The user of an unexpired session."""
    cur = conn.cursor(row_factory=record_row(SessionHolder))
    await cur.execute(_SESSION_HOLDER, (session_hash,))
    return await cur.fetchone()


# --- quiet hours and alert channels --------------------------------------------------------

async def set_account_quiet_hours(conn: AsyncConnection[Any], user_id: int,
                                  start: time | None, end: time | None) -> int:
    """Change the account's quiet hours and, with them, every rule that follows the account
    (the old default's window and no zone of its own); rules with their own quiet hours
    keep them. Returns how many rules changed."""
    cur = await conn.execute(_QUIET_HOURS, {"u": user_id, "s": start, "e": end})
    return cur.rowcount


async def alert_settings(conn: AsyncConnection[Any], user_id: int) -> AlertSettings:
    cur = conn.cursor(row_factory=record_row(AlertSettings))
    await cur.execute(_ALERT_SETTINGS, (user_id,))
    return await cur.fetchone() or AlertSettings()


async def channel_states(conn: AsyncConnection[Any], user_id: int) -> dict[str, ChannelState]:
    """Per channel: opted out / disabled (with the reason the dispatcher recorded)."""
    cur = conn.cursor(row_factory=record_row(ChannelState))
    await cur.execute(_CHANNELS, (user_id,))
    return {r.channel: r for r in await cur.fetchall()}


async def set_opt_out(conn: AsyncConnection[Any], user_id: int, channel: str,
                      opted_out: bool) -> None:
    """Turn a channel off or back on for the user (the dispatcher honours it)."""
    await conn.execute(_OPT_OUT_BY_ID, {"user_id": user_id, "channel": channel,
                                        "out": opted_out})


async def set_sms_opt_out_by_phone(conn: AsyncConnection[Any], phone: str,
                                   opted_out: bool) -> None:
    """STOP / START from a phone: texts off or back on for every account with that number."""
    await conn.execute(_OPT_OUT_BY_PHONE, {"phone": phone, "channel": "sms",
                                           "out": opted_out})


async def disable_channel(conn: AsyncConnection[Any], user_id: int, channel: str,
                          reason: str) -> None:
    """Stop sending on ``channel`` until the user fixes it; ``reason`` is shown to them."""
    await conn.execute(_DISABLE_CHANNEL, (user_id, channel, reason))
