"""Phone verification for SMS alerts: text a 6-digit code, save the number once it is typed.

The only way a number reaches an account (REST ``POST /api/v1/account/phone`` and the
dashboard's account page both come here); a number is verified for one account at a time,
and the alert dispatcher texts only verified numbers.

The pending number and a hash of its code live in the shared backend (memory, or Redis
when configured) for ten minutes, so no table is needed and a verification started on one
API process can finish on another. The number reaches ``users.phone`` (where the alert
dispatcher reads it) only after the code matches. The text goes out through Twilio's SDK,
like the alerts themselves (``TWILIO_API_BASE`` points it at a local stand-in in tests).
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import TYPE_CHECKING

import anyio.to_thread

from api.lib.errors import ApiError, TooManyRequests, Unavailable
from api.lib.security import same, token_hash
from storage import accounts

if TYPE_CHECKING:
    from api.lib.runtime import Runtime
    from storage.settings import DeliverySettings

logger = logging.getLogger(__name__)

TTL = 600
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def sms_configured(settings: DeliverySettings) -> bool:
    return bool(settings.twilio_account_sid and settings.twilio_auth_token
                and settings.twilio_from_number)


def normalize(raw: str) -> str:
    """``(503) 555-0123`` -> ``+15035550123``; US numbers may omit the country code."""
    digits = re.sub(r"[^\d+]", "", raw or "")
    if not digits.startswith("+"):
        digits = "+1" + digits if len(digits) == 10 else "+" + digits
    if not _E164.match(digits):
        raise ApiError(f"{raw!r} is not a phone number we can text: use the international "
                       "form, e.g. +1 503 555 0123.")
    return digits


def _key(user_id: int) -> str:
    return f"web:phone-verify:{user_id}"


def _send(settings: DeliverySettings, to: str, code: str) -> None:
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(settings.twilio_account_sid, settings.twilio_auth_token,
                    http_client=TwilioHttpClient(timeout=10))
    if settings.twilio_api_base:
        client.api.base_url = settings.twilio_api_base.rstrip("/")
    client.messages.create(to=to, from_=settings.twilio_from_number,
                           body=f"Rip City Ticket Dispatch code: {code}. It expires in "
                                "10 minutes. If you did not ask for it, ignore this text.")


async def start(runtime: Runtime, user_id: int, raw: str) -> str:
    """Text a code to the number; it is saved only when :func:`confirm` gets the code."""
    number = normalize(raw)
    if not sms_configured(runtime.settings):
        raise Unavailable("Text messages are not configured on this server (TWILIO_ACCOUNT_"
                          "SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER), so phones cannot be "
                          "verified yet; email alerts work.")
    assert runtime.backend is not None
    count, _ = await runtime.backend.hit(f"web:phone-sends:{user_id}", 3600)
    if count > 5:
        raise TooManyRequests("Five codes were sent in the last hour: wait a little, then "
                              "ask again.")
    code = f"{secrets.randbelow(10**6):06d}"
    from twilio.base.exceptions import TwilioException

    try:
        await anyio.to_thread.run_sync(_send, runtime.settings, number, code)
    except (TwilioException, OSError) as err:
        logger.warning("verification text to %s failed: %s", number, err)
        raise ApiError(f"We could not text {number} ({err}). Check the number and try "
                       "again.") from None
    await runtime.backend.set(_key(user_id), f"{number}|{token_hash(code)}".encode(), TTL, ())
    return number


async def pending(runtime: Runtime, user_id: int) -> str | None:
    """The number waiting for its code, if any."""
    assert runtime.backend is not None
    raw = await runtime.backend.get(_key(user_id))
    return raw.decode().split("|", 1)[0] if raw else None


async def confirm(runtime: Runtime, user_id: int, code: str) -> str:
    """Save the pending number if ``code`` matches; returns it."""
    assert runtime.backend is not None
    raw = await runtime.backend.get(_key(user_id))
    if not raw:
        raise ApiError("There is no code waiting (they expire after 10 minutes): enter your "
                       "number again to get a new one.")
    number, digest = raw.decode().split("|", 1)
    tries, _ = await runtime.backend.hit(f"web:phone-tries:{user_id}", TTL)
    if tries > 5:
        await runtime.backend.set(_key(user_id), b"", 1, ())
        raise TooManyRequests("Five wrong codes: ask for a new one.")
    if not same(token_hash(code.strip()), digest):
        raise ApiError("That code does not match the one we texted: check it and try again.")
    async with runtime.pool.connection() as conn, conn.transaction():
        await accounts.verify_phone(conn, user_id, number)
    await runtime.backend.set(_key(user_id), b"", 1, ())
    runtime.forget_user(user_id)
    return number
