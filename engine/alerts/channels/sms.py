"""SMS through Twilio's Messages API, with the vendor's SDK.

``TWILIO_API_BASE`` points the SDK at another host speaking Twilio's REST format (the
tests' and sandbox's local server); unset, it talks to api.twilio.com. Each message carries
``ref <key>`` so that after a crash the message can be found in the account's message list
before anything is resent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.alerts.channels.base import Outgoing, PermanentFailure, Sent, TransientFailure
from engine.alerts.messages import render_sms

if TYPE_CHECKING:
    from storage.settings import DeliverySettings

logger = logging.getLogger(__name__)

#: Twilio error codes that will not succeed on retry for this recipient.
PERMANENT_CODES = frozenset({
    21211,  # invalid 'To' phone number
    21214,  # 'To' number cannot be reached
    21217,  # phone number does not appear to be valid
    21407,  # this phone number type does not support SMS
    21610,  # recipient unsubscribed (replied STOP)
    21612,  # cannot route to this number
    21614,  # 'To' number is not a valid mobile number
    30003, 30004, 30005, 30006,  # delivery: unreachable, blocked, unknown, landline
})


class TwilioSender:
    channel = "sms"

    def __init__(self, settings: DeliverySettings, pool_size: int = 16) -> None:
        from requests.adapters import HTTPAdapter
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        if not (settings.twilio_account_sid and settings.twilio_auth_token
                and settings.twilio_from_number):
            raise ValueError("SMS alerts need TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and "
                             "TWILIO_FROM_NUMBER; set them or run the dispatcher with "
                             "--channels email")
        http = TwilioHttpClient(timeout=10)
        # One session shared by the dispatcher's sending threads: keep-alive connections,
        # as many as there are threads (requests' default pool keeps 10).
        for scheme in ("https://", "http://"):
            http.session.mount(scheme, HTTPAdapter(pool_connections=4, pool_maxsize=pool_size))
        self._client = Client(settings.twilio_account_sid, settings.twilio_auth_token,
                              http_client=http)
        if settings.twilio_api_base:
            self._client.api.base_url = settings.twilio_api_base.rstrip("/")
        self._from = settings.twilio_from_number
        self._public = settings.public_url
        self._callback = f"{settings.public_url.rstrip('/')}/webhooks/twilio/status"

    def send(self, message: Outgoing) -> Sent:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        body = render_sms(key=message.key, payloads=message.payloads, public_url=self._public)
        try:
            msg = self._client.messages.create(to=message.to, from_=self._from, body=body,
                                               status_callback=self._callback)
        except TwilioRestException as err:
            text = f"Twilio {err.code or err.status}: {err.msg}"
            if err.code in PERMANENT_CODES:
                raise PermanentFailure(f"{text} (number {message.to})") from err
            raise TransientFailure(text) from err
        except (TwilioException, OSError) as err:
            raise TransientFailure(f"Twilio unreachable: {err}") from err
        return Sent(provider_id=str(msg.sid), status=str(msg.status))

    def lookup(self, message: Outgoing) -> Sent | None:
        """Find a message to this number whose body carries ``ref <key>``."""
        from twilio.base.exceptions import TwilioException

        marker = f"ref {message.key}"
        try:
            for msg in self._client.messages.list(to=message.to, from_=self._from, limit=100):
                if (msg.body or "").endswith(marker):
                    return Sent(provider_id=str(msg.sid), status=str(msg.status))
        except (TwilioException, OSError) as err:
            raise TransientFailure(f"Twilio message list unavailable: {err}") from err
        return None

    def close(self) -> None:
        pass
