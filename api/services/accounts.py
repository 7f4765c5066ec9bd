"""Accounts: users, sessions, password resets and API keys (SQL only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg.errors
from psycopg.rows import dict_row

from api.lib.errors import Conflict, NotFound
from api.lib.security import new_api_key, new_token, token_hash
from api.plans import PREMIUM_STATUSES

if TYPE_CHECKING:
    from psycopg import AsyncConnection

SESSION_TTL = timedelta(days=14)
RESET_TTL = timedelta(hours=1)

_USER_COLS = f"""u.id, u.email, u.display_name, u.phone, u.created_at, u.password_hash,
    u.timezone, u.quiet_start, u.quiet_end,
    CASE WHEN u.plan = 'premium' OR EXISTS (SELECT 1 FROM subscriptions s
        WHERE s.user_id = u.id AND s.status = ANY(ARRAY{sorted(PREMIUM_STATUSES)!r})
        AND s.plan <> 'free') THEN 'premium' ELSE 'free' END AS plan"""


async def create_user(conn: AsyncConnection[Any], email: str, password_hash: str,
                      display_name: str | None) -> dict[str, Any]:
    try:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "INSERT INTO users (email, password_hash, display_name) VALUES (%s, %s, %s) "
            "RETURNING id", (email.strip(), password_hash, display_name))
        row = await cur.fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"An account with the email {email!r} already exists: log in, or reset "
                       "its password with POST /api/v1/auth/password-reset.") from None
    assert row is not None
    return await get_user(conn, row["id"])


async def get_user(conn: AsyncConnection[Any], user_id: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_USER_COLS} FROM users u WHERE u.id = %s", (user_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound("This account no longer exists; sign up again.")
    return row


async def find_user_by_email(conn: AsyncConnection[Any], email: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_USER_COLS} FROM users u WHERE lower(u.email) = lower(%s)",
                      (email.strip(),))
    return await cur.fetchone()


async def update_user(conn: AsyncConnection[Any], user_id: int, fields: dict[str, Any]) -> None:
    if not fields:
        return
    sets = ", ".join(f"{k} = %({k})s" for k in fields)
    await conn.execute(f"UPDATE users SET {sets}, updated_at = now() WHERE id = %(id)s",
                       {**fields, "id": user_id})


async def set_password(conn: AsyncConnection[Any], user_id: int, password_hash: str) -> None:
    """New password; every session of the user ends (they log in again)."""
    await conn.execute("UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
                       (password_hash, user_id))
    await conn.execute("DELETE FROM api_sessions WHERE user_id = %s", (user_id,))


#: Stripe subscription statuses that can still charge the customer.
_ENDED_STATUSES = ("canceled", "incomplete_expired")


async def live_subscription_ids(conn: AsyncConnection[Any], user_id: int) -> list[str]:
    """The user's Stripe subscriptions that have not ended, by Stripe's own status (they
    must end before the account goes, or Stripe keeps billing a person with no account)."""
    cur = await conn.execute(
        "SELECT stripe_subscription_id FROM subscriptions WHERE user_id = %s "
        "AND stripe_subscription_id IS NOT NULL "
        "AND coalesce(stripe_status, status) <> ALL(%s) ORDER BY id",
        (user_id, list(_ENDED_STATUSES)))
    return [r[0] for r in await cur.fetchall()]


async def delete_user(conn: AsyncConnection[Any], user_id: int) -> None:
    """Delete the account; foreign keys cascade to keys, sessions, watchlists, rules, alerts."""
    await conn.execute("DELETE FROM users WHERE id = %s", (user_id,))


async def create_session(conn: AsyncConnection[Any], user_id: int,
                         user_agent: str | None) -> tuple[str, str, datetime]:
    token, csrf = new_token(), new_token()
    expires = datetime.now(UTC) + SESSION_TTL
    await conn.execute(
        "INSERT INTO api_sessions (token_hash, user_id, csrf_token, expires_at, user_agent) "
        "VALUES (%s, %s, %s, %s, %s)",
        (token_hash(token), user_id, csrf, expires, (user_agent or "")[:300]))
    await conn.execute("DELETE FROM api_sessions WHERE user_id = %s AND expires_at < now()",
                       (user_id,))
    return token, csrf, expires


async def delete_session(conn: AsyncConnection[Any], session_hash: str) -> None:
    await conn.execute("DELETE FROM api_sessions WHERE token_hash = %s", (session_hash,))


async def create_reset(conn: AsyncConnection[Any], user_id: int) -> str:
    token = new_token()
    await conn.execute(
        "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES (%s, %s, %s)",
        (token_hash(token), user_id, datetime.now(UTC) + RESET_TTL))
    return token


async def consume_reset(conn: AsyncConnection[Any], token: str) -> int | None:
    """The user id of a valid unused reset token (marked used), else None."""
    cur = await conn.execute(
        "UPDATE password_resets SET used_at = now() WHERE token_hash = %s AND used_at IS NULL "
        "AND expires_at > now() RETURNING user_id", (token_hash(token),))
    row = await cur.fetchone()
    return None if row is None else int(row[0])


# --- API keys ----------------------------------------------------------------------------

_KEY_COLS = "id, name, prefix, created_at, last_used_at, revoked_at"


async def create_api_key(conn: AsyncConnection[Any], user_id: int,
                         name: str | None) -> tuple[str, dict[str, Any]]:
    key, prefix, digest = new_api_key()
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"INSERT INTO api_keys (user_id, prefix, key_hash, name) VALUES (%s, %s, %s, %s) "
        f"RETURNING {_KEY_COLS}", (user_id, prefix, digest, name))
    row = await cur.fetchone()
    assert row is not None
    return key, row


async def list_api_keys(conn: AsyncConnection[Any], user_id: int) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {_KEY_COLS} FROM api_keys WHERE user_id = %s ORDER BY id",
                      (user_id,))
    return await cur.fetchall()


async def revoke_api_key(conn: AsyncConnection[Any], user_id: int, key_id: int) -> None:
    cur = await conn.execute(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
        "WHERE id = %s AND user_id = %s RETURNING id", (key_id, user_id))
    if await cur.fetchone() is None:
        raise NotFound(f"You have no API key with id {key_id}; list yours with "
                       "GET /api/v1/api-keys.")
