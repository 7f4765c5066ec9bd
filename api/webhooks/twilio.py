"""Twilio webhooks.

- ``POST /webhooks/twilio/inbound``: replies to our number. STOP (and Twilio's other
  opt-out words) opts the sender's account out of SMS alerts, START opts back in, HELP
  answers with what this number is. Answers TwiML.
- ``POST /webhooks/twilio/status``: delivery status callbacks (``StatusCallback``) update
  the message's provider status; a permanent delivery error disables SMS for the user.

Twilio requests must carry a valid ``X-Twilio-Signature`` (HMAC of the public URL and the
form under ``TWILIO_AUTH_TOKEN``), checked with the SDK's ``RequestValidator``.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from litestar import MediaType, Request, Response, post

from api.lib.deps import RuntimeDep
from api.lib.errors import Forbidden, InvalidInput, Unavailable
from storage import accounts, alert_history

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
HELP_WORDS = frozenset({"HELP", "INFO"})
#: Twilio delivery error codes after which texting this number is pointless.
PERMANENT_DELIVERY_CODES = frozenset({"21211", "21610", "21614", "30003", "30004", "30005",
                                      "30006"})
HELP_TEXT = ("Rip City Ticket Dispatch price alerts. Manage alerts on the dashboard. "
             "Reply STOP to stop texts, START to resume. Msg&data rates may apply.")


def _twiml(text: str | None) -> Response[str]:
    body = "<Response/>" if text is None else \
        f"<Response><Message>{escape(text)}</Message></Response>"
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>{body}', media_type=MediaType.XML)


async def _verified_form(request: Request[Any, Any, Any], runtime: RuntimeDep) -> dict[str, str]:
    """The form, if Twilio signed it; 403 otherwise."""
    from twilio.request_validator import RequestValidator

    token = runtime.settings.twilio_auth_token
    if not token:
        raise Unavailable("Twilio webhooks are not configured: set TWILIO_AUTH_TOKEN")
    form = {k: str(v) for k, v in (await request.form()).items()}
    url = runtime.settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature", "")
    if not RequestValidator(token).validate(url, form, signature):
        raise Forbidden(f"X-Twilio-Signature does not match this request to {url}: check "
                        "that RIPCITY_PUBLIC_URL is the URL Twilio calls and TWILIO_AUTH_TOKEN "
                        "is the account's auth token")
    return form


@post("/webhooks/twilio/inbound", include_in_schema=False, status_code=200)
async def twilio_inbound(request: Request[Any, Any, Any], runtime: RuntimeDep) -> Response[str]:
    """STOP / START / HELP from a phone that texted our number."""
    form = await _verified_form(request, runtime)
    word = form.get("Body", "").strip().upper()
    phone = form.get("From", "")
    if word in STOP_WORDS or word in START_WORDS:
        async with runtime.pool.connection() as conn:
            await accounts.set_sms_opt_out_by_phone(conn, phone, word in STOP_WORDS)
        # Twilio answers STOP / START itself on long codes; say nothing more.
        return _twiml(None)
    if word in HELP_WORDS:
        return _twiml(HELP_TEXT)
    return _twiml(None)


@post("/webhooks/twilio/status", include_in_schema=False, status_code=200)
async def twilio_status(request: Request[Any, Any, Any], runtime: RuntimeDep) -> Response[str]:
    """A delivery status callback for a message we sent."""
    form = await _verified_form(request, runtime)
    sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
    code = form.get("ErrorCode") or None
    if not sid or not status:
        raise InvalidInput("A status callback needs MessageSid and MessageStatus")
    async with runtime.pool.connection() as conn, conn.transaction():
        users = await alert_history.record_provider_status(
            conn, sid, status, f"Twilio delivery error {code}" if code else None)
        if status in ("failed", "undelivered") and code in PERMANENT_DELIVERY_CODES:
            for user_id in users:
                await accounts.disable_channel(
                    conn, user_id, "sms", f"texts to your number fail (Twilio error {code}); "
                    "check the phone number on your account")
    return _twiml(None)


ROUTE_HANDLERS = [twilio_inbound, twilio_status]
