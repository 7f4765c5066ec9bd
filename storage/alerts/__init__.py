"""Price alerts' storage: rule matching, the outbox, delivery attempts, recipients.

``matching`` turns a batch of changed listings into matches and outbox rows in one
transaction; ``outbox`` is what the dispatchers claim and settle; ``deliveries`` records
every attempt at a provider (exactly-once); ``recipients`` reads who a message goes to and
keeps each person's channel state. The engine (``engine.alerts``) decides what a change
means and when and how to send; the rules are written by the API.
"""

from __future__ import annotations

from storage.alerts.matching import MATCH_SCHEMA, MatchCounts, match_changes
from storage.alerts.outbox import NOTIFY_CHANNEL

__all__ = ["MATCH_SCHEMA", "NOTIFY_CHANNEL", "MatchCounts", "match_changes"]
