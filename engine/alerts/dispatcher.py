"""The dispatcher: claims due outbox rows, sends them, records what the provider said.

Several dispatchers can run: each claims rows with ``FOR NO KEY UPDATE SKIP LOCKED`` (the
``FOR UPDATE`` variant that still lets attempt rows reference the claimed ones) and holds
the claim in one open transaction while it sends. If a dispatcher dies, PostgreSQL drops
its connection and the rows are free for the next one at once.

Exactly once: before calling the provider a ``sending`` attempt (with the message's
idempotency key) is committed on a second connection, and ``sent`` is committed right after
the provider accepts. A row whose last attempt is ``sent`` is only marked sent; one whose
last attempt is still ``sending`` (its dispatcher was killed mid-send) is looked up at the
provider before anything is resent, and resent with the same key if not found.

Also here: coalescing (rows of one person and channel claimed together are one message; a
message within ``coalesce_seconds`` of the previous one waits and collects the rest), the
per-user daily cap, plan / opt-out / disabled-channel gates, and retries with exponential
backoff. A permanent failure disables the channel with a reason the dashboard shows.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.alerts.outbox import NOTIFY_CHANNEL
from engine.alerts.policy import backoff_seconds
from engine.alerts.senders import Outgoing, PermanentFailure, Sent, TransientFailure

if TYPE_CHECKING:
    import psycopg

    from engine.alerts.senders import Sender

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class DispatchOptions:
    batch_size: int = 25  # rows claimed per transaction
    coalesce_seconds: float = 30.0  # min gap between two messages to one person & channel
    daily_cap: int = 50  # messages per person, channel and local day (users.daily_alert_cap)
    max_attempts: int = 8
    backoff_base_s: float = 5.0
    backoff_max_s: float = 3600.0
    idle_wait_s: float = 5.0  # LISTEN timeout when nothing is due


_CLAIM = """
SELECT id, user_id, channel, payload, attempts, idempotency_key
FROM alert_outbox
WHERE status = 'pending' AND next_attempt_at <= now()
ORDER BY next_attempt_at, id
LIMIT %s
FOR NO KEY UPDATE SKIP LOCKED
"""

_LAST_ATTEMPTS = """
SELECT DISTINCT ON (outbox_id) outbox_id, idempotency_key, status, provider_id, provider_status
FROM alert_deliveries WHERE outbox_id = ANY(%s) ORDER BY outbox_id, id DESC
"""

_RECIPIENT = """
SELECT u.email, u.phone, alert_user_is_premium(u.id), coalesce(c.opted_out, false),
       c.disabled_reason, c.last_sent_at, coalesce(u.daily_alert_cap, %(cap)s),
       (SELECT count(*) FROM alert_outbox o
        WHERE o.user_id = u.id AND o.channel = %(ch)s AND o.status = 'sent'
          AND o.merged_into IS NULL
          AND o.sent_at >= date_trunc('day', now() AT TIME ZONE coalesce(u.timezone, 'UTC'))
                           AT TIME ZONE coalesce(u.timezone, 'UTC'))
FROM users u
LEFT JOIN alert_user_channels c ON c.user_id = u.id AND c.channel = %(ch)s
WHERE u.id = %(uid)s
"""

_MARK_SENT = """
UPDATE alert_outbox SET status = 'sent', sent_at = now(), provider_id = %(pid)s,
    provider_status = %(pstatus)s, idempotency_key = %(key)s, last_error = NULL,
    merged_into = CASE WHEN id = %(primary)s THEN NULL ELSE %(primary)s END
WHERE id = ANY(%(ids)s)
"""

_CHANNEL_SENT = """
INSERT INTO alert_user_channels (user_id, channel, last_sent_at) VALUES (%s, %s, now())
ON CONFLICT (user_id, channel) DO UPDATE SET last_sent_at = now(), updated_at = now()
"""

_CHANNEL_DISABLE = """
INSERT INTO alert_user_channels (user_id, channel, disabled_reason, disabled_at)
VALUES (%s, %s, %s, now())
ON CONFLICT (user_id, channel) DO UPDATE SET disabled_reason = EXCLUDED.disabled_reason,
    disabled_at = now(), updated_at = now()
"""


@dataclasses.dataclass(slots=True)
class _Group:
    user_id: int
    channel: str
    rows: list[tuple[Any, ...]]
    key: str
    in_doubt: bool = False

    @property
    def ids(self) -> list[int]:
        return [r[0] for r in self.rows]


class Dispatcher:
    """Sends due outbox rows through one sender per channel."""

    def __init__(self, database_url: str, senders: dict[str, Sender],
                 options: DispatchOptions | None = None, name: str | None = None) -> None:
        import psycopg

        self.options = options or DispatchOptions()
        self.senders = senders
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._claim = psycopg.connect(database_url)
        self._record = psycopg.connect(database_url, autocommit=True)
        self._listen: psycopg.Connection[Any] | None = None
        self._url = database_url
        self.counts: dict[str, int] = defaultdict(int)

    # --- one round ----------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim and handle one batch of due rows; returns how many rows were handled."""
        conn = self._claim
        with conn.transaction():
            rows = conn.execute(_CLAIM, (self.options.batch_size,)).fetchall()
            if not rows:
                return 0
            last = {r[0]: r[1:] for r in conn.execute(
                _LAST_ATTEMPTS, ([r[0] for r in rows],)).fetchall()}
            for group in self._groups(rows, last, conn):
                self._handle(conn, group)
        return len(rows)

    def _groups(self, rows: list[tuple[Any, ...]], last: dict[int, tuple[Any, ...]],
                conn: psycopg.Connection[Any]) -> list[_Group]:
        """Rows already sent are closed; in-doubt rows regroup by their attempt's key;
        the rest coalesce per (user, channel)."""
        groups: dict[tuple[Any, ...], _Group] = {}
        for row in rows:
            oid, user_id, channel = row[0], row[1], row[2]
            prev = last.get(oid)
            if prev is not None and prev[1] == "sent":
                self._finish_sent(conn, [oid], oid, prev[0],
                                  Sent(prev[2] or "", prev[3] or "sent"), user_id, channel)
                self.counts["recovered_sent"] += 1
                continue
            if prev is not None and prev[1] == "sending":
                k = ("doubt", prev[0])
                g = groups.setdefault(k, _Group(user_id, channel, [], prev[0], in_doubt=True))
            else:
                k = ("new", user_id, channel)
                g = groups.setdefault(k, _Group(user_id, channel, [], ""))
            g.rows.append(row)
        for g in groups.values():
            g.rows.sort(key=lambda r: r[0])
            if not g.key:
                g.key = g.rows[0][5] or f"o{g.rows[0][0]}-{g.channel}"
        return list(groups.values())

    def _handle(self, conn: psycopg.Connection[Any], g: _Group) -> None:
        sender = self.senders.get(g.channel)
        if sender is None:
            self._defer(conn, g, self.options.idle_wait_s * 6,
                        f"no {g.channel} sender is configured on dispatcher {self.name}")
            return
        info = conn.execute(_RECIPIENT, {"cap": self.options.daily_cap, "ch": g.channel,
                                         "uid": g.user_id}).fetchone()
        if info is None:
            self._close(conn, g, "suppressed", "the user no longer exists")
            return
        email, phone, premium, opted_out, disabled, last_sent, cap, sent_today = info
        to = email if g.channel == "email" else phone
        payloads = [r[3] for r in g.rows]
        out = Outgoing(key=g.key, user_id=g.user_id, to=to or "", payloads=payloads)
        if g.in_doubt:
            found = self._lookup(sender, out)
            if found is not None:
                self._finish_sent(conn, g.ids, g.ids[0], g.key, found, g.user_id, g.channel)
                self.counts["recovered_sent"] += len(g.rows)
                return
        reason = self._gate(g.channel, to, premium, opted_out, disabled)
        if reason:
            self._close(conn, g, "suppressed", reason)
            return
        if not g.in_doubt:
            gap = timedelta(seconds=self.options.coalesce_seconds)
            now = datetime.now(UTC)
            if last_sent is not None and last_sent + gap > now:
                self._defer_until(conn, g, last_sent + gap)
                self.counts["coalesce_deferred"] += len(g.rows)
                return
            if sent_today >= cap:
                self._close(conn, g, "suppressed",
                            f"daily cap of {cap} {g.channel} alerts reached; the rest of "
                            "today's matches are in your alert history")
                return
        self._send(conn, sender, g, out)

    @staticmethod
    def _gate(channel: str, to: str | None, premium: bool, opted_out: bool,
              disabled: str | None) -> str | None:
        if channel == "sms" and not premium:
            return "SMS alerts are a premium feature; this account is on the free plan"
        if opted_out:
            return ("you replied STOP to our texts (reply START to resume)" if channel == "sms"
                    else "you unsubscribed from alert emails")
        if disabled:
            return f"{channel} alerts are disabled: {disabled}"
        if not to:
            return ("no phone number on the account" if channel == "sms"
                    else "no email address on the account")
        return None

    def _lookup(self, sender: Sender, out: Outgoing) -> Sent | None:
        try:
            return sender.lookup(out)
        except TransientFailure:
            logger.warning("cannot check %(k)s at the provider; resending with the same key",
                           {"k": out.key})
            return None

    def _send(self, conn: psycopg.Connection[Any], sender: Sender, g: _Group,
              out: Outgoing) -> None:
        attempt_ids = self._record.execute(
            """INSERT INTO alert_deliveries (outbox_id, channel, status, idempotency_key)
               SELECT unnest(%s::bigint[]), %s, 'sending', %s RETURNING id""",
            (g.ids, g.channel, g.key)).fetchall()
        attempt_ids = [a[0] for a in attempt_ids]
        try:
            sent = sender.send(out)
        except PermanentFailure as err:
            self._attempt_done(attempt_ids, "failed", None, None, str(err))
            conn.execute(_CHANNEL_DISABLE, (g.user_id, g.channel, str(err)))
            self._close(conn, g, "failed", f"permanent: {err}")
            self.counts["permanent_failures"] += len(g.rows)
            return
        except TransientFailure as err:
            self._attempt_done(attempt_ids, "failed", None, None, str(err))
            self._retry(conn, g, str(err))
            return
        self._attempt_done(attempt_ids, "sent", sent.provider_id, sent.status, None)
        self._finish_sent(conn, g.ids, g.ids[0], g.key, sent, g.user_id, g.channel)
        self.counts["messages"] += 1
        self.counts["sent_rows"] += len(g.rows)

    def _attempt_done(self, ids: list[int], status: str, pid: str | None,
                      pstatus: str | None, error: str | None) -> None:
        self._record.execute(
            """UPDATE alert_deliveries SET status = %s, provider_id = %s, provider_status = %s,
                   error = %s, finished_at = now() WHERE id = ANY(%s)""",
            (status, pid, pstatus, error, ids))

    def _finish_sent(self, conn: psycopg.Connection[Any], ids: list[int], primary: int,
                     key: str, sent: Sent, user_id: int, channel: str) -> None:
        conn.execute(_MARK_SENT, {"pid": sent.provider_id, "pstatus": sent.status, "key": key,
                                  "primary": primary, "ids": ids})
        conn.execute(_CHANNEL_SENT, (user_id, channel))

    def _close(self, conn: psycopg.Connection[Any], g: _Group, status: str,
               reason: str) -> None:
        conn.execute("UPDATE alert_outbox SET status = %s, last_error = %s WHERE id = ANY(%s)",
                     (status, reason, g.ids))
        self.counts[status] += len(g.rows)

    def _retry(self, conn: psycopg.Connection[Any], g: _Group, error: str) -> None:
        o = self.options
        attempts = max(r[4] for r in g.rows) + 1
        if attempts >= o.max_attempts:
            conn.execute("""UPDATE alert_outbox SET status = 'failed', attempts = %s,
                              last_error = %s WHERE id = ANY(%s)""",
                         (attempts, f"gave up after {attempts} attempts: {error}", g.ids))
            self.counts["failed"] += len(g.rows)
            return
        delay = backoff_seconds(attempts, o.backoff_base_s, o.backoff_max_s)
        conn.execute("""UPDATE alert_outbox SET attempts = %s, last_error = %s,
                          next_attempt_at = now() + make_interval(secs => %s)
                        WHERE id = ANY(%s)""", (attempts, error, delay, g.ids))
        self.counts["retries"] += len(g.rows)

    def _defer(self, conn: psycopg.Connection[Any], g: _Group, seconds: float,
               reason: str) -> None:
        conn.execute("""UPDATE alert_outbox SET last_error = %s,
                          next_attempt_at = now() + make_interval(secs => %s)
                        WHERE id = ANY(%s)""", (reason, seconds, g.ids))

    def _defer_until(self, conn: psycopg.Connection[Any], g: _Group, at: datetime) -> None:
        conn.execute("UPDATE alert_outbox SET next_attempt_at = %s WHERE id = ANY(%s)",
                     (at, g.ids))

    # --- the loop -----------------------------------------------------------------------
    def _seconds_to_next_due(self) -> float:
        row = self._record.execute(
            """SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
               FROM alert_outbox WHERE status = 'pending'""").fetchone()
        wait = self.options.idle_wait_s if row is None or row[0] is None else row[0]
        return max(0.0, min(wait, self.options.idle_wait_s))

    def run(self, stop: threading.Event | None = None) -> None:
        """Send until ``stop`` is set: wake on NOTIFY, or when the next deferred row is due."""
        import psycopg

        stop = stop or threading.Event()
        self._listen = psycopg.connect(self._url, autocommit=True)
        self._listen.execute(f"LISTEN {NOTIFY_CHANNEL}")
        logger.info("alert dispatcher %(n)s listening", {"n": self.name})
        while not stop.is_set():
            try:
                if self.run_once():
                    continue
            except Exception:  # keep the loop alive; rows stay pending for a retry
                logger.exception("alert dispatch round failed")
                stop.wait(1.0)
                continue
            # due rows that another dispatcher holds: look again shortly
            wait = max(0.05, min(self._seconds_to_next_due(), 0.5))
            for _ in self._listen.notifies(timeout=wait, stop_after=1):
                pass

    def close(self) -> None:
        for sender in self.senders.values():
            sender.close()
        for c in (self._claim, self._record, self._listen):
            if c is not None:
                c.close()


def build_senders(settings: Any, channels: list[str]) -> dict[str, Sender]:
    """One sender per requested channel from settings (raises with what to set)."""
    senders: dict[str, Sender] = {}
    if "email" in channels:
        from engine.alerts.smtp import SmtpSender

        senders["email"] = SmtpSender(settings)
    if "sms" in channels:
        from engine.alerts.sms import TwilioSender

        senders["sms"] = TwilioSender(settings)
    return senders
