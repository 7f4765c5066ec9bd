"""The first administrator: one-time setup tokens and the admin flag.

On a fresh embedded install no account may see the operations page, so ``ripcity run``
issues a setup token (it prints the link; only the SHA-256 of the token is stored) and the
dashboard's ``/setup`` page spends it to create an administrator account. A token works
once, expires, and issuing a new one withdraws the unused ones. The flag
(``users.is_admin``, migration 0850) counts besides ``RIPCITY_ADMIN_EMAILS``.

The CLI that issues tokens is sync, the API that spends them async: each side has only the
functions it uses.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from storage import accounts
from storage.errors import NotFound

if TYPE_CHECKING:
    from psycopg import AsyncConnection, Connection

#: how long a printed setup link works
SETUP_TOKEN_TTL = timedelta(hours=1)

_ANY_ADMIN = "SELECT EXISTS (SELECT 1 FROM users WHERE is_admin)"
_WITHDRAW_UNUSED = "DELETE FROM setup_tokens WHERE used_at IS NULL"
_ISSUE = """
INSERT INTO setup_tokens (token_hash, expires_at) VALUES (%s, now() + %s) RETURNING expires_at
"""
_VALID = """
SELECT EXISTS (SELECT 1 FROM setup_tokens
               WHERE token_hash = %s AND used_at IS NULL AND expires_at > now())
"""
_SPEND = """
UPDATE setup_tokens SET used_at = now()
WHERE token_hash = %s AND used_at IS NULL AND expires_at > now()
RETURNING token_hash
"""
_MARK_USED_BY = "UPDATE setup_tokens SET used_by = %s WHERE token_hash = %s"
_MAKE_ADMIN = "UPDATE users SET is_admin = true, updated_at = now() WHERE id = %s"
_IS_ADMIN = "SELECT is_admin FROM users WHERE id = %s"

SPENT = ("This setup link was already used or has expired. Restart `ripcity run`: while no "
          "administrator exists it prints a new link.")


def has_admin(conn: Connection[Any]) -> bool:
    """Whether any account carries the admin flag."""
    row = conn.execute(_ANY_ADMIN).fetchone()
    return bool(row and row[0])


def issue_setup_token(conn: Connection[Any], token_hash: str,
                      ttl: timedelta = SETUP_TOKEN_TTL) -> None:
    """Store a new setup token (by its hash), withdrawing the unused ones; commits."""
    with conn.transaction():
        conn.execute(_WITHDRAW_UNUSED)
        conn.execute(_ISSUE, (token_hash, ttl))


async def setup_token_valid(conn: AsyncConnection[Any], token_hash: str) -> bool:
    """Whether the token is unused and unexpired (the page shows the form only then)."""
    cur = await conn.execute(_VALID, (token_hash,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def create_first_admin(conn: AsyncConnection[Any], token_hash: str, email: str,
                             password_hash: str, display_name: str | None) -> int:
    """Spend the token and create an administrator account with it, in one transaction;
    returns the user id. :class:`NotFound` if the token is used or expired (nothing
    changes), :class:`~storage.errors.Conflict` if the email is taken (the token stays
    unused)."""
    async with conn.transaction():
        cur = await conn.execute(_SPEND, (token_hash,))
        if await cur.fetchone() is None:
            raise NotFound(SPENT)
        user = await accounts.create_user(conn, email, password_hash, display_name)
        await conn.execute(_MAKE_ADMIN, (user.id,))
        await conn.execute(_MARK_USED_BY, (user.id, token_hash))
    return user.id


async def is_admin(conn: AsyncConnection[Any], user_id: int) -> bool:
    """Whether the account carries the admin flag."""
    cur = await conn.execute(_IS_ADMIN, (user_id,))
    row = await cur.fetchone()
    return bool(row and row[0])
