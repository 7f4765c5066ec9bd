"""Webhooks: one signed HTTP POST per delivery to a user's endpoint (httpx).

The signature follows Stripe's recipe. The ``Ripcity-Signature`` header is
``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``; during a secret
rotation's overlap a second ``v1=`` signed with the previous secret follows. A receiver
recomputes the HMAC over ``f"{t}.".encode() + body`` with its secret, compares it in
constant time with any ``v1`` and rejects a ``t`` older than its tolerance
(:func:`verify` is that recipe). ``Ripcity-Webhook-Id`` is the payload's ``id``: the same
on every retry, so a receiver drops repeats.

The body is the versioned event (``api_version``; ``api.webhook_events`` documents it in
OpenAPI's ``webhooks``) or, for the ``slack`` / ``discord`` presets, the text those
incoming webhooks expect. 2xx is delivered; 410 Gone disables the endpoint at once; any
other answer, a redirect (never followed), a timeout or a refused connection is retried
with backoff. Every new connection resolves the host again, checks each address
(``storage.webhook_urls``: the SSRF guard) and connects to a checked one
(``engine.alerts.channels.vetted``: no DNS rebinding between the check and the connect);
an address refused there is a permanent failure, like a URL refused before sending. Every
attempt is logged with its status code and response time (``storage.webhook_deliveries``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from engine.alerts.channels.base import Outgoing, PermanentFailure, Sent, TransientFailure
from engine.alerts.channels.vetted import VettedTransport
from engine.alerts.messages import lines
from storage.db import pool
from storage.webhook_deliveries import (
    Attempt,
    Target,
    disable_endpoint,
    log_attempts,
    relaxed,
    targets,
)
from storage.webhook_urls import UnsafeUrl, check_webhook_url

if TYPE_CHECKING:
    from storage.settings import DeliverySettings

logger = logging.getLogger(__name__)

#: the payload schema's version (``api_version`` in every event)
API_VERSION = "2026-12-01"
SIGNATURE_HEADER = "Ripcity-Signature"
ID_HEADER = "Ripcity-Webhook-Id"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                    hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in secrets)])


def verify(header: str, body: bytes, secret: str, *, tolerance_s: int = 300,
           now: float | None = None) -> bool:
    """The receiver's check (the documented recipe): a ``v1`` matches and ``t`` is fresh."""
    parts = [p.partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in parts if k.strip() == "t"]
    sigs = [v for k, _, v in parts if k.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not sigs:
        return False
    t = int(stamps[0])
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    want = sign(secret, t, body)
    return any(hmac.compare_digest(want, s) for s in sigs)


def event_body(out: Outgoing) -> dict[str, Any]:
    """The JSON event (``api.webhook_events.WebhookEvent``) for one delivery."""
    kind = next((p.get("type") for p in out.payloads if p.get("type")), "alert.triggered")
    alerts = [m for p in out.payloads for m in p.get("matches", [])]
    alerts.sort(key=lambda m: m.get("match_id") or 0)
    return {"id": out.key, "type": kind, "api_version": API_VERSION,
            "created": int(time.time()), "data": {"alerts": alerts}}


def chat_text(event: dict[str, Any], public_url: str) -> str:
    """The same alert as one chat message (Slack / Discord presets)."""
    if event["type"] == "endpoint.test":
        return "Rip City Ticket Dispatch: test event. This endpoint receives your alerts."
    out = []
    for it in lines([{"matches": event["data"]["alerts"]}], public_url)[:10]:
        change = f" ({it.change})" if it.change else ""
        out.append(f"*{it.title}*: {it.event}, {it.seat}: {it.price} all-in{change} {it.url}")
    return "\n".join(out) or "Rip City Ticket Dispatch alert"


class WebhookSender:
    channel = "webhook"

    def __init__(self, settings: DeliverySettings, database_url: str,
                 pool_size: int = 16) -> None:
        self._s = settings
        self._http = httpx.Client(
            timeout=settings.webhook_timeout_s, follow_redirects=False, trust_env=False,
            transport=VettedTransport(allow_private=settings.webhook_allow_private_targets,
                                      limits=httpx.Limits(max_connections=pool_size)),
            headers={"User-Agent": "RipCity-Webhooks/1"})
        # kept open (not grown during a burst): a round's targets, then its log rows
        self._db = pool(database_url, min_size=2, max_size=4, kwargs={"autocommit": True},
                        configure=relaxed)
        self._lock = threading.Lock()
        self._targets: dict[int, Target | None] = {}  # this round's, read by ``prepare``
        self._attempts: list[Attempt] = []  # this round's, written by ``finish``
        #: (max attempts, first delay, longest delay): webhooks retry over hours
        self.retry = (settings.webhook_max_attempts, settings.webhook_backoff_base_s,
                      settings.webhook_backoff_max_s)

    def prepare(self, messages: list[Outgoing]) -> None:
        """Read the endpoints of a round's messages in one query, before they are sent."""
        ids = [int(m.to) for m in messages]
        with self._db.connection() as conn:
            found = targets(conn, ids)
        with self._lock:
            self._targets.update({i: found.get(i) for i in ids})

    def finish(self) -> None:
        """Write the round's attempts to the delivery log in one statement."""
        with self._lock:
            done, self._attempts = self._attempts, []
            self._targets.clear()
        if done:
            with self._db.connection() as conn:
                log_attempts(conn, done)

    def _target(self, out: Outgoing) -> Target:
        eid = int(out.to)
        with self._lock:
            prepared = eid in self._targets
            t = self._targets.get(eid)
        if not prepared:  # sent outside a dispatcher round
            with self._db.connection() as conn:
                t = targets(conn, [eid]).get(eid)
        if t is None:
            raise PermanentFailure(f"webhook endpoint {out.to} was deleted")
        if not t.enabled:
            raise PermanentFailure(f"webhook endpoint {t.id} is disabled")
        return t

    def _body(self, t: Target, event: dict[str, Any]) -> bytes:
        if t.format == "slack":
            doc: dict[str, Any] = {"text": chat_text(event, self._s.public_url)}
        elif t.format == "discord":
            doc = {"content": chat_text(event, self._s.public_url)[:2000]}
        else:
            doc = event
        return json.dumps(doc, separators=(",", ":"), default=str).encode()

    def send(self, message: Outgoing) -> Sent:
        t = self._target(message)
        event = event_body(message)
        try:  # the URL's shape here; its addresses when the transport connects
            check_webhook_url(t.url, allow_private=self._s.webhook_allow_private_targets,
                              resolve=False)
        except UnsafeUrl as err:
            self._log(t, message, event, None, None, str(err))
            raise PermanentFailure(str(err)) from err
        body = self._body(t, event)
        stamp = int(time.time())
        secrets = [t.secret] + ([t.previous_secret] if t.previous_secret else [])
        headers = {"Content-Type": "application/json", ID_HEADER: message.key,
                   "Ripcity-Event-Type": event["type"],
                   SIGNATURE_HEADER: signature_header(secrets, stamp, body)}
        t0 = time.perf_counter()
        try:
            resp = self._http.post(t.url, content=body, headers=headers)
        except UnsafeUrl as err:  # the host resolved to an address webhooks must not reach
            self._log(t, message, event, None, None, str(err))
            raise PermanentFailure(str(err)) from err
        except httpx.HTTPError as err:
            ms = (time.perf_counter() - t0) * 1000
            error = f"{type(err).__name__}: {err}"
            self._log(t, message, event, None, ms, error)
            raise TransientFailure(f"webhook {t.url}: {error}") from err
        ms = (time.perf_counter() - t0) * 1000
        code = resp.status_code
        if 200 <= code < 300:
            self._log(t, message, event, code, ms, None)
            return Sent(provider_id=message.key, status=str(code))
        error = f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
        self._log(t, message, event, code, ms, error)
        if code == 410:
            raise PermanentFailure(f"webhook {t.url} answered 410 Gone")
        raise TransientFailure(f"webhook {t.url}: {error}")

    def _log(self, t: Target, out: Outgoing, event: dict[str, Any], code: int | None,
             ms: float | None, error: str | None) -> None:
        attempt = Attempt(t.id, out.outbox_id, out.key, event["type"], out.attempt, code, ms,
                          error is None, error, datetime.now(UTC))
        with self._lock:
            self._attempts.append(attempt)

    def lookup(self, message: Outgoing) -> Sent | None:
        """An endpoint cannot be asked; a resend carries the same id (receivers dedupe)."""
        return None

    def give_up(self, message: Outgoing, reason: str) -> None:
        """Disable the endpoint and email its owner (the dispatcher gave up on it)."""
        with self._db.connection() as conn:
            if disable_endpoint(conn, int(message.to), reason,
                                f"{self._s.public_url.rstrip('/')}/account/webhooks"):
                logger.warning("webhook endpoint %(e)s disabled: %(r)s",
                               {"e": message.to, "r": reason})

    def close(self) -> None:
        self.finish()
        self._http.close()
        self._db.close()
