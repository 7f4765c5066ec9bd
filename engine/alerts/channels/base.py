"""What a channel sender is: ``send`` a message, ``lookup`` whether one already went out.

Senders classify provider errors so the dispatcher can act on them: ``TransientFailure``
is retried with exponential backoff; ``PermanentFailure`` (an invalid number, a bounced
address) disables that channel for the user.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to one person, already rendered by the dispatcher's channel."""

    key: str  # idempotency key: Message-ID / SMS ref
    user_id: int
    to: str  # address, phone number, or webhook endpoint id
    payloads: list[dict[str, Any]]
    #: the user's random unsubscribe material (:mod:`storage.unsubscribe`)
    unsubscribe_key: str = ""
    outbox_id: int | None = None  # the first row it carries (the webhook delivery log)
    attempt: int = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Sent:
    provider_id: str
    status: str


class SendFailure(Exception):
    """A provider refused or could not be reached."""


class TransientFailure(SendFailure):
    """Worth retrying later (timeouts, 4xx SMTP replies, 429 / 5xx from Twilio)."""


class PermanentFailure(SendFailure):
    """Will never work for this recipient: disable the channel and tell the user."""


class Sender(Protocol):
    """What the dispatcher sends through. A sender may also have ``prepare(messages)``
    (called before a round's sends: read what they need at once) and ``finish()`` (after
    them: write what they did at once), ``retry`` (its own backoff) and ``give_up``."""

    channel: str

    def send(self, message: Outgoing) -> Sent: ...

    def lookup(self, message: Outgoing) -> Sent | None:
        """The provider's record of a message with this key, if it can tell (else None)."""
        ...

    def close(self) -> None: ...
