"""A dispatcher inside a long-running command (``ripcity run``): the same ``Dispatcher`` as
``ripcity alerts dispatch``, on a thread, stopped with the command.

``channels_for`` picks what the settings can send: email (``RIPCITY_SMTP_*``) and webhooks
always, SMS once Twilio is configured; ``options_from_settings`` is the one mapping of the
alert settings to ``DispatchOptions`` both commands use.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from engine.alerts.dispatcher import Dispatcher, DispatchOptions, build_senders

if TYPE_CHECKING:
    from engine.settings import Settings

logger = logging.getLogger(__name__)


def options_from_settings(settings: Settings, **overrides: Any) -> DispatchOptions:
    """The alert settings as dispatch options; a None override keeps the setting."""
    values: dict[str, Any] = {
        "send_workers": settings.alert_send_workers,
        "coalesce_seconds": settings.alert_coalesce_seconds,
        "daily_cap": settings.alert_daily_cap,
        "max_attempts": settings.alert_max_attempts,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return DispatchOptions(**values)


def channels_for(settings: Settings) -> list[str]:
    """Email and webhooks always; SMS when Twilio is configured."""
    return ["email", *(["sms"] if settings.twilio_account_sid else []), "webhook"]


class DispatcherThread:
    """``start()`` runs a dispatcher on a thread until ``stop()`` (which waits for its
    round in flight and closes its connections)."""

    def __init__(self, settings: Settings, database_url: str) -> None:
        self.channels = channels_for(settings)
        self._dispatcher = Dispatcher(database_url,
                                      build_senders(settings, self.channels, database_url),
                                      options_from_settings(settings))
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-dispatcher",
                                        daemon=True)

    def _run(self) -> None:
        try:
            self._dispatcher.run(self._halt)
        except Exception:  # the listener lost its connection: say so, the command goes on
            logger.exception("the alert dispatcher stopped")

    def start(self) -> DispatcherThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._halt.set()
        self._thread.join(timeout)
        self._dispatcher.close()
