"""Signed one-click unsubscribe links (RFC 8058).

The token is an HMAC of ``user_id:channel`` under ``RIPCITY_SECRET_KEY``: the link works
without a login and cannot be forged for another user. The engine signs the links it puts in
alert emails (:func:`unsubscribe_url`); the API checks them (:func:`valid_token`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

UNSUBSCRIBE_PATH = "/alerts/unsubscribe"


def unsubscribe_token(secret: str, user_id: int, channel: str = "email") -> str:
    mac = hmac.new(secret.encode(), f"{user_id}:{channel}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def valid_token(secret: str, user_id: int, channel: str, token: str) -> bool:
    """Whether ``token`` is the signature of ``user_id:channel`` (constant-time compare)."""
    return hmac.compare_digest(unsubscribe_token(secret, user_id, channel), token)


def unsubscribe_url(public_url: str, secret: str, user_id: int, channel: str = "email") -> str:
    query = urlencode({"u": user_id, "c": channel,
                       "t": unsubscribe_token(secret, user_id, channel)})
    return f"{public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?{query}"
