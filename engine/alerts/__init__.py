"""Price alerts: match committed changes against rules, dispatch by SMS (Twilio) and email
(SMTP) exactly once.

``create_matcher`` is the change hook the ``ChangeRelay`` runs on every committed batch
(``engine.alerts.hooks``); ``Dispatcher`` (``ripcity alerts dispatch``) sends the outbox
rows the matcher wrote. Their SQL lives in ``storage.alerts``.
"""

from __future__ import annotations

from engine.alerts.matcher import AlertMatcher, create_matcher, match

__all__ = ["AlertMatcher", "create_matcher", "match"]
