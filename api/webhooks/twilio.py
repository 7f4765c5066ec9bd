"""Twilio webhooks and the one-click email unsubscribe.

- ``POST /webhooks/twilio/inbound``: replies to our number. STOP (and Twilio's other
  opt-out words) opts the sender's account out of SMS alerts, START opts back in, HELP
  answers with what this number is. Answers TwiML.
- ``POST /webhooks/twilio/status``: delivery status callbacks (``StatusCallback``) update
  the message's provider status; a permanent delivery error disables SMS for the user.
- ``GET|POST /alerts/unsubscribe``: RFC 8058 one-click unsubscribe from alert emails with
  a signed link (``List-Unsubscribe``); GET shows a confirm button, POST unsubscribes.

Twilio requests must carry a valid ``X-Twilio-Signature`` (HMAC of the public URL and the
form under ``TWILIO_AUTH_TOKEN``), checked with the SDK's ``RequestValidator``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Annotated, Any
from xml.sax.saxutils import escape

from litestar import MediaType, Request, Response, get, post
from litestar.params import QueryParameter

from api.lib.deps import RuntimeDep
from api.lib.errors import Forbidden, InvalidInput, Unavailable

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


_SET_OPT = """
INSERT INTO alert_user_channels (user_id, channel, opted_out, opted_out_at)
SELECT id, 'sms', %(out)s, CASE WHEN %(out)s THEN now() END FROM users WHERE phone = %(phone)s
ON CONFLICT (user_id, channel) DO UPDATE SET opted_out = EXCLUDED.opted_out,
    opted_out_at = EXCLUDED.opted_out_at, updated_at = now()
"""


@post("/webhooks/twilio/inbound", include_in_schema=False, status_code=200)
async def twilio_inbound(request: Request[Any, Any, Any], runtime: RuntimeDep) -> Response[str]:
    """STOP / START / HELP from a phone that texted our number."""
    form = await _verified_form(request, runtime)
    word = form.get("Body", "").strip().upper()
    phone = form.get("From", "")
    if word in STOP_WORDS or word in START_WORDS:
        async with runtime.pool.connection() as conn:
            await conn.execute(_SET_OPT, {"out": word in STOP_WORDS, "phone": phone})
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
        cur = await conn.execute(
            """UPDATE alert_outbox SET provider_status = %s,
                   last_error = coalesce(%s, last_error)
               WHERE provider_id = %s RETURNING user_id""",
            (status, f"Twilio delivery error {code}" if code else None, sid))
        users = {r[0] for r in await cur.fetchall()}
        await conn.execute("UPDATE alert_deliveries SET provider_status = %s "
                           "WHERE provider_id = %s", (status, sid))
        if status in ("failed", "undelivered") and code in PERMANENT_DELIVERY_CODES:
            for user_id in users:
                await conn.execute(
                    """INSERT INTO alert_user_channels (user_id, channel, disabled_reason,
                                                         disabled_at)
                       VALUES (%s, 'sms', %s, now())
                       ON CONFLICT (user_id, channel) DO UPDATE SET
                           disabled_reason = EXCLUDED.disabled_reason, disabled_at = now(),
                           updated_at = now()""",
                    (user_id, f"texts to your number fail (Twilio error {code}); check the "
                              "phone number on your account"))
    return _twiml(None)


def unsubscribe_token(secret: str, user_id: int, channel: str = "email") -> str:
    """Same construction as ``storage.unsubscribe`` (the API does not import the engine)."""
    mac = hmac.new(secret.encode(), f"{user_id}:{channel}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def _check_token(runtime: RuntimeDep, u: int, c: str, t: str) -> None:
    if c not in ("email", "sms") or not hmac.compare_digest(
            unsubscribe_token(runtime.settings.secret_key, u, c), t):
        raise Forbidden("This unsubscribe link is not valid (it may be cut short): use the "
                        "link from the latest alert email, or turn alerts off on the dashboard")


UserQ = Annotated[int, QueryParameter(ge=1, description="user id")]
TokenQ = Annotated[str, QueryParameter(max_length=100, description="signed token")]
ChannelQ = Annotated[str, QueryParameter(max_length=10, description="email or sms")]

_PAGE = """<!doctype html><html><body style="font-family:sans-serif">
<h2>{title}</h2><p>{text}</p>{form}</body></html>"""


@get("/alerts/unsubscribe", include_in_schema=False, media_type=MediaType.HTML)
async def unsubscribe_page(runtime: RuntimeDep, u: UserQ, t: TokenQ,
                           c: ChannelQ = "email") -> str:
    """Confirm page (link scanners follow GETs, so GET never unsubscribes)."""
    _check_token(runtime, u, c, t)
    form = (f'<form method="post" action="/alerts/unsubscribe?u={u}&c={escape(c)}&t={escape(t)}">'
            '<button name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>')
    return _PAGE.format(title="Stop alert emails?",
                        text="You will get no more price alert emails.", form=form)


@post("/alerts/unsubscribe", include_in_schema=False, media_type=MediaType.HTML,
      status_code=200)
async def unsubscribe(runtime: RuntimeDep, u: UserQ, t: TokenQ, c: ChannelQ = "email") -> str:
    """RFC 8058 one-click: the mail client POSTs ``List-Unsubscribe=One-Click`` here."""
    _check_token(runtime, u, c, t)
    async with runtime.pool.connection() as conn:
        await conn.execute(
            """INSERT INTO alert_user_channels (user_id, channel, opted_out, opted_out_at)
               SELECT id, %s, true, now() FROM users WHERE id = %s
               ON CONFLICT (user_id, channel) DO UPDATE SET opted_out = true,
                   opted_out_at = now(), updated_at = now()""", (c, u))
    return _PAGE.format(title="Unsubscribed", text="You will get no more price alert "
                        f"{'emails' if c == 'email' else 'texts'}.", form="")


ROUTE_HANDLERS = [twilio_inbound, twilio_status, unsubscribe_page, unsubscribe]
