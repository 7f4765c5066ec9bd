"""What the account endpoints accept and answer: sign-up, login, sessions, profile, API keys."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

import msgspec

from api.lib.fields import Name

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254,
                                     pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                                     description="an email address")]
Password = Annotated[str, msgspec.Meta(
    min_length=10, max_length=256,
    description="at least 10 characters, and not easy to guess (common passwords, "
    "repeats, keyboard walks and your own email are refused)")]
Token = Annotated[str, msgspec.Meta(min_length=10, max_length=200,
                                     description="the token from the email")]
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
    token: Token
    new_password: Password


class EmailToken(msgspec.Struct, forbid_unknown_fields=True):
    """An emailed one-time token (verification, revoke every API key)."""

    token: Token


class AccountDelete(msgspec.Struct, forbid_unknown_fields=True):
    """The current password; a browser session logged in the last 10 minutes may omit it."""

    password: Annotated[str, msgspec.Meta(max_length=256)] | None = None


class PhoneStart(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, msgspec.Meta(min_length=7, max_length=32,
                                       description="the number to text a code to, "
                                       "e.g. +1 503 555 0123")]


class PhoneCode(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=12,
                                      description="the 6-digit code we texted")]


class PhonePending(msgspec.Struct):
    """A code is on its way to ``phone``; confirm with POST /api/v1/account/phone/verify."""

    phone: str
    detail: str


TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                        description="IANA time zone, e.g. America/Los_Angeles")]


class AccountUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Only the fields sent change. Quiet hours (both or neither) are the account default:
    rules created without quiet hours of their own take them, in ``timezone``."""

    display_name: Name | None = None
    phone: Annotated[Phone | None, msgspec.Meta(
        description="not settable here: POST /api/v1/account/phone texts a code")] = None
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
    #: alerts and notices go to the email only once this is set (the emailed link)
    email_verified_at: datetime | None = None
    #: SMS alerts go to the phone only once this is set (the texted code)
    phone_verified_at: datetime | None = None


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
