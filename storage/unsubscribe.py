"""Signed one-click unsubscribe links (RFC 8058).

The token is an HMAC of ``user_id:channel:<the user's unsubscribe_key>`` under the site key
(:mod:`storage.secret_key`). ``users.unsubscribe_key`` is random per user, so a link cannot be
made from the sequential user id even by someone who knows the site key, and replacing it
(:func:`storage.accounts.rotate_unsubscribe_key`, done on every password change or reset)
withdraws every link sent before. The engine signs the links it puts in alert emails
(:func:`unsubscribe_url`); the API checks them (:func:`valid_token`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

UNSUBSCRIBE_PATH = "/alerts/unsubscribe"


def unsubscribe_token(secret: str, user_id: int, channel: str, user_key: str) -> str:
    msg = f"{user_id}:{channel}:{user_key}".encode()
    mac = hmac.new(secret.encode(), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def valid_token(secret: str, user_id: int, channel: str, user_key: str | None,
                token: str) -> bool:
    """Whether ``token`` signs ``user_id:channel`` with the user's current key
    (constant-time compare); False for a user that no longer exists (``user_key`` None)."""
    if not user_key:
        return False
    return hmac.compare_digest(unsubscribe_token(secret, user_id, channel, user_key), token)


def unsubscribe_url(public_url: str, secret: str, user_id: int, channel: str,
                    user_key: str) -> str:
    query = urlencode({"u": user_id, "c": channel,
                       "t": unsubscribe_token(secret, user_id, channel, user_key)})
    return f"{public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?{query}"
