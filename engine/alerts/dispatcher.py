"""The dispatcher: claims due outbox rows, sends them, records what the provider said.

Several dispatchers can run: each claims up to ``batch_size`` rows that no other one holds
(``storage.alerts.outbox.claim_due``) and holds the claim in one open transaction while it
sends. If a dispatcher dies, PostgreSQL drops its connection and the rows are free for the
next one at once.

Lanes: a running dispatcher (``run``) claims and sends each channel in its own lane (a
thread with its own claim transaction, connections and sending threads), so a burst of
emails never holds a webhook or an SMS back: a round waits for its slowest send, and a
webhook claimed behind a hundred emails would wait for all of them. One listener wakes
every lane on the matcher's NOTIFY. A last lane takes the rows of channels this dispatcher
has no sender for (and says so in their ``last_error``). ``run_once`` claims every channel
in one round (``--once``, the tests).

A round is set-based: one query reads every recipient's address, plan, channel state and
sends today (``storage.alerts.recipients``); the messages go out ``send_workers`` at a time
(threads: one kept-open SMTP connection each, one shared HTTP session for Twilio); outcomes
are written back with a few statements (``engine.alerts.ledger``). Rendering and the
provider are then the cost.

Exactly once: before any provider is called, a ``sending`` attempt per row (with the
message's idempotency key) is committed on a second connection; ``sent`` / ``failed`` is
committed on it as soon as the round's sends return, then the outbox rows with the claim.
A row whose last attempt is ``sent`` is only marked sent; one whose last attempt is still
``sending`` (its dispatcher was killed mid-send) is looked up at the provider before
anything is resent, and resent with the same key if not found.

Also here: coalescing (rows of one person and channel claimed together are one message; a
message within ``coalesce_seconds`` of the previous one waits and collects the rest: the
first alert after a quiet spell goes at once), the per-user daily cap, plan / opt-out /
disabled-channel gates, and retries with exponential backoff. A permanent failure disables
the channel with a reason the dashboard shows.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from engine.alerts.channels.base import (
    Outgoing,
    PermanentFailure,
    SendFailure,
    Sent,
    TransientFailure,
)
from engine.alerts.ledger import Ledger
from engine.alerts.policy import backoff_seconds
from storage.alerts.deliveries import (
    AttemptResult,
    AttemptStart,
    LastAttempt,
    finish_attempts,
    last_attempts,
    start_attempts,
)
from storage.alerts.outbox import (
    ChannelFilter,
    OutboxRow,
    claim_due,
    listen,
    seconds_to_next_due,
)
from storage.alerts.recipients import Recipient, recipients
from storage.db import connect

if TYPE_CHECKING:
    import psycopg

    from engine.alerts.channels.base import Sender

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class DispatchOptions:
    batch_size: int = 100  # rows claimed per transaction
    send_workers: int = 8  # messages in flight at once (threads; one SMTP connection each)
    coalesce_seconds: float = 30.0  # min gap between two messages to one person & channel
    daily_cap: int = 50  # messages per person, channel and local day (users.daily_alert_cap)
    max_attempts: int = 8
    backoff_base_s: float = 5.0
    backoff_max_s: float = 3600.0
    idle_wait_s: float = 5.0  # LISTEN timeout when nothing is due


@dataclasses.dataclass(slots=True)
class _Group:
    user_id: int
    channel: str
    rows: list[OutboxRow]
    key: str
    in_doubt: bool = False

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.rows]


@dataclasses.dataclass(slots=True)
class _Send:
    group: _Group
    sender: Sender
    out: Outgoing
    result: Sent | SendFailure | None = None


class _Lane:
    """One claim loop: its own claim transaction, record connection and sending threads,
    over the channels ``only`` selects (None: every channel)."""

    def __init__(self, name: str, database_url: str, workers: int,
                 only: ChannelFilter | None) -> None:
        self.name = name
        self.only = only
        self.claim = connect(database_url)
        self.record = connect(database_url, autocommit=True)
        self.pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix=f"alert-{name}")
        self.wake = threading.Event()  # set by the listener on NOTIFY

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.claim.close()
        self.record.close()


class Dispatcher:
    """Sends due outbox rows through one sender per channel, ``send_workers`` at a time."""

    def __init__(self, database_url: str, senders: dict[str, Sender],
                 options: DispatchOptions | None = None, name: str | None = None) -> None:
        self.options = options or DispatchOptions()
        self.senders = senders
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._url = database_url
        #: every channel in one lane: ``run_once``; in ``run``, what no other lane sends
        self._main = _Lane("all", database_url, self.options.send_workers, None)
        self._lanes: list[_Lane] = []
        self._listen: psycopg.Connection[Any] | None = None
        self._counts_lock = threading.Lock()
        self.counts: dict[str, int] = defaultdict(int)

    def _count(self, key: str, n: int = 1) -> None:
        with self._counts_lock:  # lanes count from their own threads
            self.counts[key] += n

    # --- one round ----------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim and handle one batch of due rows of any channel; returns how many rows
        were handled."""
        return self._round(self._main)

    def _round(self, lane: _Lane) -> int:
        conn = lane.claim
        t0 = time.perf_counter()
        with conn.transaction():
            rows = claim_due(conn, self.options.batch_size, lane.only)
            if not rows:
                return 0
            last = last_attempts(conn, [r.id for r in rows])
            ledger = Ledger()
            groups = self._groups(rows, last, ledger)
            people = recipients(conn, ((g.user_id, g.channel) for g in groups),
                                self.options.daily_cap)
            sends = self._decide(groups, people, ledger)
            t1 = time.perf_counter()
            self._send_all(lane, sends, ledger)
            t2 = time.perf_counter()
            ledger.flush(conn)
        logger.debug("%(lane)s round: %(rows)d rows, %(msgs)d messages; %(pre).1f ms to plan, "
                     "%(send).1f ms to send, %(post).1f ms to record",
                     {"lane": lane.name, "rows": len(rows), "msgs": len(sends),
                      "pre": (t1 - t0) * 1000, "send": (t2 - t1) * 1000,
                      "post": (time.perf_counter() - t2) * 1000})
        return len(rows)

    def _groups(self, rows: list[OutboxRow], last: dict[int, LastAttempt],
                ledger: Ledger) -> list[_Group]:
        """Rows already sent are closed; in-doubt rows regroup by their attempt's key;
        the rest coalesce per (user, channel). In-doubt groups come first."""
        groups: dict[tuple[Any, ...], _Group] = {}
        for row in rows:
            prev = last.get(row.id)
            if prev is not None and prev.status == "sent":
                ledger.mark_sent([row.id], prev.idempotency_key,
                                 Sent(prev.provider_id or "", prev.provider_status or "sent"),
                                 row.user_id, row.channel)
                self._count("recovered_sent")
                continue
            if prev is not None and prev.status == "sending":
                k: tuple[Any, ...] = ("doubt", prev.idempotency_key)
                g = groups.setdefault(k, _Group(row.user_id, row.channel, [],
                                                prev.idempotency_key, in_doubt=True))
            else:  # a webhook row goes to its endpoint: one group per endpoint
                k = ("new", row.user_id, row.channel, row.endpoint_id)
                g = groups.setdefault(k, _Group(row.user_id, row.channel, [], ""))
            g.rows.append(row)
        for g in groups.values():
            g.rows.sort(key=lambda r: r.id)
            if not g.key:
                g.key = g.rows[0].idempotency_key or f"o{g.rows[0].id}-{g.channel}"
        return sorted(groups.values(), key=lambda g: not g.in_doubt)

    def _decide(self, groups: list[_Group], people: dict[tuple[int, str], Recipient],
                ledger: Ledger) -> list[_Send]:
        """Gates, coalescing and the cap, per group; returns what to send now."""
        o = self.options
        sends: list[_Send] = []
        planned: dict[tuple[int, str], int] = defaultdict(int)
        for g in groups:
            sender = self.senders.get(g.channel)
            if sender is None:
                ledger.later(g.ids, delay=o.idle_wait_s * 6,
                             error=f"no {g.channel} sender is configured on dispatcher "
                                   f"{self.name}")
                continue
            who = people.get((g.user_id, g.channel))
            if who is None or not who.exists:
                self._close(ledger, g, "suppressed", "the user no longer exists")
                continue
            to = (who.email if g.channel == "email" else who.phone if g.channel == "sms"
                  else str(g.rows[0].endpoint_id or ""))
            out = Outgoing(key=g.key, user_id=g.user_id, to=to or "",
                           payloads=[r.payload for r in g.rows],
                           unsubscribe_key=who.unsubscribe_key or "", outbox_id=g.rows[0].id,
                           attempt=max(r.attempts for r in g.rows) + 1)
            if g.in_doubt:
                found = self._lookup(sender, out)
                if found is not None:
                    ledger.mark_sent(g.ids, g.key, found, g.user_id, g.channel)
                    self._count("recovered_sent", len(g.rows))
                    continue
            reason = self._gate(g.channel, to, who.premium, who.opted_out, who.disabled,
                                bool(who.verified))
            if reason:
                self._close(ledger, g, "suppressed", reason)
                continue
            pair = (g.user_id, g.channel)
            # Webhooks are for programs: no waiting to coalesce (a batch's matches are one
            # delivery already), no daily cap (the plan limits endpoints instead).
            if not g.in_doubt and g.channel != "webhook":
                gap = timedelta(seconds=o.coalesce_seconds)
                last_sent = who.now if planned[pair] else who.last_sent
                if last_sent is not None and gap and last_sent + gap > who.now:
                    ledger.later(g.ids, at=last_sent + gap)
                    self._count("coalesce_deferred", len(g.rows))
                    continue
                if who.sent_today + planned[pair] >= who.cap:
                    self._close(ledger, g, "suppressed",
                                f"daily cap of {who.cap} {g.channel} alerts reached; the rest "
                                "of today's matches are in your alert history")
                    continue
            planned[pair] += 1
            sends.append(_Send(g, sender, out))
        return sends

    @staticmethod
    def _gate(channel: str, to: str | None, premium: bool, opted_out: bool,
              disabled: str | None, verified: bool = True) -> str | None:
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
        if not verified:
            return ("the phone number is not verified: confirm it with the texted code"
                    if channel == "sms" else "the email address is not verified yet: click "
                    "the link we emailed (or ask for a new one on the account page)")
        return None

    def _lookup(self, sender: Sender, out: Outgoing) -> Sent | None:
        try:
            return sender.lookup(out)
        except TransientFailure:
            logger.warning("cannot check %(k)s at the provider; resending with the same key",
                           {"k": out.key})
            return None

    def _send_all(self, lane: _Lane, sends: list[_Send], ledger: Ledger) -> None:
        """Commit every ``sending`` attempt, send in parallel, record every outcome."""
        if not sends:
            return
        batched: dict[int, tuple[Sender, list[Outgoing]]] = {}
        for s in sends:
            batched.setdefault(id(s.sender), (s.sender, []))[1].append(s.out)
        for sender, outs in batched.values():  # a sender may read what the round needs once
            prepare = getattr(sender, "prepare", None)
            if prepare is not None:
                prepare(outs)
        attempts = start_attempts(lane.record, [
            AttemptStart(oid, s.group.channel, s.group.key) for s in sends
            for oid in s.group.ids])
        for s, result in zip(sends, lane.pool.map(_send_one, sends), strict=True):
            s.result = result
        for sender, _ in batched.values():  # and write what the round did at once
            finish = getattr(sender, "finish", None)
            if finish is not None:
                try:
                    finish()
                except Exception:  # its own record (a log); the sends' outcomes come next
                    logger.exception("%(ch)s sender could not record the round",
                                     {"ch": sender.channel})
        done: list[AttemptResult] = []
        for s in sends:
            g, r = s.group, s.result
            if isinstance(r, Sent):
                done += [AttemptResult(attempts[i], "sent", r.provider_id, r.status, None)
                         for i in g.ids]
                ledger.mark_sent(g.ids, g.key, r, g.user_id, g.channel)
                self._count("messages")
                self._count("sent_rows", len(g.rows))
                continue
            done += [AttemptResult(attempts[i], "failed", None, None, str(r)) for i in g.ids]
            if isinstance(r, PermanentFailure):
                if hasattr(s.sender, "give_up"):  # the endpoint, not the whole channel
                    s.sender.give_up(s.out, f"permanent: {r}")
                else:
                    ledger.disable(g.user_id, g.channel, str(r))
                self._close(ledger, g, "failed", f"permanent: {r}")
                self._count("permanent_failures", len(g.rows))
            else:
                self._retry(ledger, s, str(r))
        finish_attempts(lane.record, done)

    def _close(self, ledger: Ledger, g: _Group, status: str, reason: str) -> None:
        ledger.close(g.ids, status, reason)
        self._count(status, len(g.rows))

    def _retry(self, ledger: Ledger, s: _Send, error: str) -> None:
        o, g = self.options, s.group
        # a sender may bring its own schedule (webhooks retry over hours)
        most, base, cap = getattr(s.sender, "retry", None) or (
            o.max_attempts, o.backoff_base_s, o.backoff_max_s)
        attempts = max(r.attempts for r in g.rows) + 1
        if attempts >= most:
            reason = f"gave up after {attempts} attempts: {error}"
            ledger.close(g.ids, "failed", reason, attempts)
            if hasattr(s.sender, "give_up"):
                s.sender.give_up(s.out, reason)
            self._count("failed", len(g.rows))
            return
        delay = backoff_seconds(attempts, base, cap)
        ledger.later(g.ids, error=error, attempts=attempts, delay=delay)
        self._count("retries", len(g.rows))

    # --- the loop -----------------------------------------------------------------------
    def _seconds_to_next_due(self, lane: _Lane) -> float:
        due = seconds_to_next_due(lane.record, lane.only)
        wait = self.options.idle_wait_s if due is None else due
        return max(0.0, min(wait, self.options.idle_wait_s))

    def run(self, stop: threading.Event | None = None) -> None:
        """Send until ``stop`` is set: one lane per channel with a sender (and one for the
        rest), each woken by NOTIFY or when its next deferred row is due."""
        stop = stop or threading.Event()
        self._listen = connect(self._url, autocommit=True)
        listen(self._listen)
        mine = tuple(self.senders)
        self._lanes = [_Lane(ch, self._url, self.options.send_workers, ChannelFilter((ch,)))
                       for ch in mine]
        self._main.only = ChannelFilter(mine, exclude=True)
        lanes = [*self._lanes, self._main]
        for lane in lanes:
            self._warm(lane)
        threads = [threading.Thread(target=self._lane_loop, args=(lane, stop),
                                    name=f"alert-lane-{lane.name}", daemon=True)
                   for lane in lanes]
        for t in threads:
            t.start()
        logger.info("alert dispatcher %(n)s listening (lanes: %(l)s)",
                    {"n": self.name, "l": ", ".join(lane.name for lane in lanes)})
        try:
            while not stop.is_set():
                for _ in self._listen.notifies(timeout=0.5):
                    for lane in lanes:
                        lane.wake.set()
        finally:
            stop.set()
            for lane in lanes:
                lane.wake.set()
            for t in threads:
                t.join()

    def _warm(self, lane: _Lane) -> None:
        """Run a round's reads once for nobody, so the first alert after start-up does not
        pay for the server's first look at every table they touch."""
        with lane.claim.transaction():
            claim_due(lane.claim, 1, ChannelFilter(("",)))
            last_attempts(lane.claim, [0])
            recipients(lane.claim, [(0, "email")], self.options.daily_cap)
        seconds_to_next_due(lane.record, lane.only)

    def _lane_loop(self, lane: _Lane, stop: threading.Event) -> None:
        """Rounds back to back while rows are due; else sleep until woken or due."""
        while not stop.is_set():
            lane.wake.clear()  # a NOTIFY from now on is not lost: the claim below or the
            try:               # wait after it sees it
                if self._round(lane):
                    continue
                # due rows that another dispatcher holds: look again shortly
                wait = max(0.05, min(self._seconds_to_next_due(lane), 0.5))
            except Exception:  # keep the lane alive; rows stay pending for a retry
                logger.exception("alert dispatch round failed (%(lane)s lane)",
                                 {"lane": lane.name})
                stop.wait(1.0)
                continue
            lane.wake.wait(wait)

    def close(self) -> None:
        for lane in [*self._lanes, self._main]:
            lane.close()
        for sender in self.senders.values():
            sender.close()
        if self._listen is not None:
            self._listen.close()


def _send_one(s: _Send) -> Sent | SendFailure:
    """One provider call in a worker thread; failures come back as values."""
    try:
        return s.sender.send(s.out)
    except SendFailure as err:
        return err
    except Exception as err:  # a sender bug: retry later rather than lose the batch
        logger.exception("sending %(k)s failed unexpectedly", {"k": s.out.key})
        return TransientFailure(f"unexpected {type(err).__name__}: {err}")


def build_senders(settings: Any, channels: list[str],
                  database_url: str | None = None) -> dict[str, Sender]:
    """One sender per requested channel from settings (raises with what to set); the
    webhook sender logs its deliveries to ``database_url`` (default: the product's)."""
    senders: dict[str, Sender] = {}
    if "email" in channels:
        from engine.alerts.channels.email import SmtpSender

        senders["email"] = SmtpSender(settings)
    if "sms" in channels:
        from engine.alerts.channels.sms import TwilioSender

        senders["sms"] = TwilioSender(settings)
    if "webhook" in channels:
        from engine.alerts.channels.webhook import WebhookSender
        from storage.db import resolve_database_url

        senders["webhook"] = WebhookSender(settings, database_url
                                           or resolve_database_url(settings))
    return senders
