"""What the account endpoints accept and answer: sign-up, login, sessions, profile, API keys."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

import msgspec

from api.lib.fields import Name

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254,
                                     pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                                     description="an email address")]
Password = Annotated[str, msgspec.Meta(min_length=10, max_length=256,
                                        description="at least 10 characters")]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+[1-9]\d{6,14}$",
                                     description="E.164 phone number, e.g. +15035550123")]


class SignUp(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    display_name: Name | None = None


class LogIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    new_password: Password


class ResetRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class ResetConfirm(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=10, max_length=200)]
    new_password: Password


TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                        description="IANA time zone, e.g. America/Los_Angeles")]


class AccountUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change. Quiet hours (both or neither) are the account default:
    rules created without quiet hours of their own take them, in ``timezone``."""

    display_name: Name | None = None
    phone: Phone | None = None
    timezone: TimeZone | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None


class User(msgspec.Struct):
    id: int
    email: str
    display_name: str | None
    phone: str | None
    plan: str
    created_at: datetime
    timezone: str | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None


class Session(msgspec.Struct):
    """Login result: the session cookie is set; send ``csrf_token`` as X-CSRF-Token."""

    user: User
    csrf_token: str
    expires_at: datetime


class Accepted(msgspec.Struct):
    detail: str


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None


class ApiKey(msgspec.Struct):
    id: int
    name: str | None
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(msgspec.Struct):
    """A new key: ``key`` is shown this once and stored only as a hash."""

    id: int
    name: str | None
    prefix: str
    key: str
    created_at: datetime
