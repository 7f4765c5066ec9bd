"""Price alerts: match committed changes against rules, write an outbox, dispatch by SMS
(Twilio) and email (SMTP) exactly once.

``create_matcher`` is the change hook ``engine.alerts.hooks`` loads into every ingest writer;
``Dispatcher`` (``ripcity alerts dispatch``) sends what the matcher wrote.
"""

from __future__ import annotations

from engine.alerts.matcher import AlertMatcher, create_matcher, match
from engine.alerts.outbox import NOTIFY_CHANNEL

__all__ = ["NOTIFY_CHANNEL", "AlertMatcher", "create_matcher", "match"]
