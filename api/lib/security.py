"""Secrets: argon2 password hashes, API keys and session tokens stored as SHA-256.

Passwords are low-entropy, so they get argon2id (slow on purpose). API keys and session
tokens are 256-bit random values, so a fast SHA-256 is enough and keeps every
authenticated request cheap; only the hash is stored, the plain value is shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

KEY_PREFIX = "rck"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str, str]:
    """A fresh key as (full key shown once, lookup prefix, stored hash)."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, token_hash(key)


def split_api_key(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
