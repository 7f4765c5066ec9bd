"""Alert latency: price drop committed -> message accepted by the SMTP / Twilio-format server
or (webhooks) answered 200 by a signature-checking receiver on 127.0.0.1.

``python -m bench.alerts [--seconds 20] [--rate 10000] [--dispatchers 2]`` builds a scratch
database with 100,000 rules across 10,000 users (a tenth premium with SMS as well), drives
listing updates through the real ingest path (``storage.ingest.write_snapshots``, then the
alert matcher ``engine.alerts.AlertMatcher.on_changes`` after commit, as the engine's
change relay does) at ``--rate`` updates per second, runs ``ripcity alerts dispatch``
processes against an aiosmtpd server and the Twilio-format server (in their own process,
so their accept timestamps do not queue behind the bench's own work), and prints one JSON
object.

The workload: 200 events x 100 listings, 500 rules per event with targets at 50-90 % of
the event's get-in price. A batch is a crawl of whole event pages (every listing of its
events, nearly all with a new price: +-7 %); ``--writers`` threads write disjoint events
(as the engine's shards do) at ``--rate`` updates/s together. A share ``--deep`` of updates
(default 0.006 %: 0.6 a second) is a listing appearing at 40-100 % of the get-in price, which
alerts everyone whose target it meets, at once: bursts of up to ~600 messages, under one
alert per person per minute on average and at most a few in a run (the JSON says exactly),
far above real traffic (a few a day).

Webhooks: a share ``--webhook-share`` of the users (default 0.1, free accounts) has one
webhook endpoint (all on one receiver, ``sandbox.vendors.webhook_receiver``, that checks
every signature; in a process of its own, as an API client's server is: sharing the SMTP
server's interpreter, it answered only when a burst of emails let it) and the ``webhook``
channel on its rules besides email. ``webhook_p50_ms`` / ``webhook_p99_ms`` are commit ->
the receiver's 200 (webhooks are never held: no coalescing window), ``webhook_deliveries``
/ ``webhook_unverified`` what it received; ``duplicates`` / ``lost`` include them.

Coalescing (``--coalesce-seconds``, default 10): the first alert of a person in a window
goes at once; later ones in the window wait by design and go together when it closes.
``p50_ms`` / ``p99_ms`` are commit -> accept for the alerts sent at once (all of them with
``--coalesce-seconds 0``); ``held`` counts the ones the window held, ``held_p99_ms`` their
latency, ``all_p99_ms`` everything. ``duplicates`` / ``lost`` count every match and channel.
``stages_p50_p99_ms`` splits the sent-at-once latency: ``match`` (commit -> match row
written), ``queue`` (-> a dispatcher claimed it), ``round`` (-> accepted), and the same for
the webhooks alone (``webhook_match`` ...); ``--log-dir`` keeps each dispatcher's DEBUG log
of its rounds.
``baseline_send_ms`` is one direct SMTP send measured in the same run, so
``p99_over_baseline`` is comparable across machines. Goal: p99_ms <= 1000 with
duplicates = lost = 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa

from bench.harness import arguments, emit, percentile_ms, scratch_database
from storage.records import LISTING_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2031, 1, 1, tzinfo=UTC)


def _setup(conn: psycopg.Connection[Any], events: int, per_event: int, users: int,
           rules: int, rng: random.Random, hook_url: str = "", hook_secret: str = "",
           hook_share: float = 0.0) -> np.ndarray:
    """Events, users and rules; returns the base all-in price of every listing."""
    with conn.cursor() as cur:
        with cur.copy("COPY events (name, performers) FROM STDIN") as cp:
            for e in range(events):
                cp.write_row((f"Bench event {e}", ["Bench Band"]))
        cur.execute("""INSERT INTO event_sources (marketplace, source_event_id, event_id)
                       SELECT 'seatgeek', 'E' || id, id FROM events""")
        # addresses proven by their owners (no alert goes to an unconfirmed one)
        with cur.copy("COPY users (email, phone, plan, email_verified_at, phone_verified_at) "
                      "FROM STDIN") as cp:
            verified = datetime.now(UTC)
            for u in range(users):
                premium = u % 10 == 0
                cp.write_row((f"u{u}@bench.test", f"+1503{u:07d}",
                              "premium" if premium else "free", verified, verified))
        base = np.array([rng.randint(5_000, 40_000) for _ in range(events * per_event)])
        # Targets at 50-90 % of the event's get-in price: the +-7 % wiggles never reach one;
        # a listing that appears under the get-in price matches the targets it meets.
        with cur.copy("COPY alert_rules (user_id, event_id, kind, threshold_cents, channels) "
                      "FROM STDIN") as cp:
            for r in range(rules):
                u = r % users
                e = rng.randrange(events)
                lo = int(base[e * per_event:(e + 1) * per_event].min())
                channels = ["email", "sms"] if u % 10 == 0 else ["email"]
                if _hooked(u, hook_share):
                    channels.append("webhook")
                cp.write_row((u + 1, e + 1, "price_at_or_below", int(lo * rng.uniform(0.5, 0.9)),
                              channels))
        with cur.copy("COPY webhook_endpoints (user_id, url, secret) FROM STDIN") as cp:
            for u in range(users):
                if _hooked(u, hook_share):
                    cp.write_row((u + 1, hook_url, hook_secret))
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    return base


def _hooked(u: int, share: float) -> bool:
    """Whether user ``u`` (0-based) has a webhook endpoint: a free user, ``share`` of all."""
    return share > 0 and u % 10 != 0 and (u * 7919) % 1000 < share * 1000


def _batch(at: datetime, ids: np.ndarray, prices: np.ndarray, per_event: int) -> pa.RecordBatch:
    n = len(ids)
    events = ids // per_event + 1
    return pa.RecordBatch.from_pydict({
        "observed_at": pa.array([at] * n, LISTING_SCHEMA.field("observed_at").type),
        "marketplace": ["seatgeek"] * n, "listing_id": [f"L{i}" for i in ids],
        "source_event_id": [f"E{e}" for e in events], "section": ["112"] * n,
        "row": ["5"] * n, "seats": [None] * n, "quantity": pa.array([2] * n, pa.int32()),
        "splits": [None] * n, "price_cents": prices, "fees_cents": [0] * n,
        "total_cents": prices, "currency": ["USD"] * n, "delivery": [None] * n,
        "kind": [None] * n, "zone": [None] * n}, schema=LISTING_SCHEMA)


# --- the fake providers and the receiver, in processes of their own ---------------------
def _serve_fakes(which: str) -> None:
    """``--serve-fakes providers|hooks``: start the SMTP and Twilio servers (ours to pay
    for) or the webhook receiver (an API client's own server, so not in the providers'
    process: it must not wait for their interpreter), print where they listen, and on a
    line on stdin print every accepted message as (channel, key, to, accepted_at)."""
    from sandbox.vendors.smtp_inbox import SmtpBox
    from sandbox.vendors.twilio_api import FakeTwilio
    from sandbox.vendors.webhook_receiver import WebhookReceiver

    if which == "hooks":
        hooks = WebhookReceiver("whsec_bench_receiver_secret").start()
        print(json.dumps({"hook_url": hooks.url, "hook_secret": hooks.secret}), flush=True)
        for line in sys.stdin:
            if line.strip() == "clear":
                hooks.deliveries.clear()
                continue
            # "to" says whether the signature verified
            print(json.dumps([("webhook", d.webhook_id, "ok" if d.verified else "unverified",
                               d.at) for d in list(hooks.deliveries)]), flush=True)
            break
        hooks.stop()
        return
    smtp, twilio = SmtpBox().start(), FakeTwilio().start()
    print(json.dumps({"smtp_port": smtp.port, "twilio_url": twilio.url,
                      "sid": twilio.account_sid, "token": twilio.auth_token}), flush=True)
    for line in sys.stdin:
        if line.strip() == "clear":
            smtp.received.clear()
            continue
        got = [("email", str(r.header("X-Ripcity-Alert")), r.rcpt_tos[0], r.accepted_at)
               for r in list(smtp.received)]
        for m in list(twilio.messages):
            found = re.search(r"ref (\S+)$", m.body)
            got.append(("sms", found.group(1) if found else "?", m.to, m.accepted_at))
        print(json.dumps(got), flush=True)
        break
    smtp.stop()
    twilio.stop()


class _Fakes:
    """The providers' process and the webhook receiver's, spoken to over stdin/stdout."""

    def __init__(self) -> None:
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "bench.alerts", "--serve-fakes", which], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for which in ("providers", "hooks")]
        self.info: dict[str, Any] = {}
        for proc in self.procs:
            assert proc.stdout is not None
            self.info.update(json.loads(proc.stdout.readline()))

    def _say(self, line: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()

    def clear(self) -> None:
        self._say("clear")

    def accepted(self) -> list[tuple[str, str, str, float]]:
        self._say("dump")
        got: list[tuple[str, str, str, float]] = []
        for proc in self.procs:
            assert proc.stdout is not None
            got += [tuple(r) for r in json.loads(proc.stdout.readline())]  # type: ignore[misc]
        return got

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            proc.wait(10)


def _spawn(url: str, env: dict[str, str], n: int, coalesce: float, workers: int,
           batch: int, log_dir: str | None) -> list[subprocess.Popen[bytes]]:
    def log(i: int) -> Any:
        if not log_dir:
            return subprocess.DEVNULL
        return open(Path(log_dir) / f"dispatcher-{i}.log", "wb")

    if log_dir:
        env = {**env, "RIPCITY_LOG_LEVEL": "DEBUG"}
    return [subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "alerts", "dispatch", "--database-url", url,
         "--coalesce-seconds", str(coalesce), "--daily-cap", "1000000",
         "--send-workers", str(workers), "--batch-size", str(batch)],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=log(i)) for i in range(n)]


def _baseline_send_ms(port: int) -> float:
    import smtplib
    from email.message import EmailMessage

    times = []
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(20):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "a@b.test", "c@d.test", f"baseline {i}"
            msg.set_content("x")
            t = time.perf_counter()
            smtp.send_message(msg)
            times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times))


# --- the ingest load ----------------------------------------------------------------------
class _Writer(threading.Thread):
    """One ingest writer: its own events, its own connection and matcher, paced."""

    def __init__(self, w: int, n_writers: int, url: str, base: np.ndarray, per_event: int,
                 events: np.ndarray, per_batch: int, every_s: float, deep: float,
                 seconds: float, seed: int) -> None:
        super().__init__(name=f"writer-{w}", daemon=True)
        self.w, self.n, self.url, self.base, self.per_event = w, n_writers, url, base, per_event
        self.events, self.per_batch, self.every_s = events, per_batch, every_s
        self.deep, self.seconds = deep, seconds
        self.rng = np.random.default_rng(seed + w)
        self.get_in = base.reshape(-1, per_event).min(axis=1)
        self.commit_at: dict[int, float] = {}  # observed_at epoch -> commit wall time
        self.rows = 0
        self.write_s: list[float] = []
        self.match_s: list[float] = []
        self.error: BaseException | None = None
        self.start_at = 0.0

    def run(self) -> None:
        try:
            self._run()
        except BaseException as err:  # reported by the main thread
            self.error = err

    def _run(self) -> None:
        from engine.alerts.matcher import AlertMatcher
        from storage.ingest import write_snapshots

        ev_per_batch = max(1, self.per_batch // self.per_event)
        matcher = AlertMatcher(self.url)
        try:
            with psycopg.connect(self.url) as conn:
                k = 0
                while time.monotonic() - self.start_at < self.seconds:
                    due = self.start_at + k * self.every_s
                    time.sleep(max(0.0, due - time.monotonic()))
                    take = np.take(self.events, range(k * ev_per_batch, (k + 1) * ev_per_batch),
                                   mode="wrap")
                    ids = (take[:, None] * self.per_event + np.arange(self.per_event)).ravel()
                    prices = self.base[ids] * self.rng.uniform(0.93, 1.07, len(ids))
                    deep = self.rng.random(len(ids)) < self.deep
                    get_in = self.get_in[ids[deep] // self.per_event]
                    prices[deep] = get_in * self.rng.uniform(0.4, 1.0, int(deep.sum()))
                    prices = np.maximum(100, prices.astype(np.int64))
                    k += 1
                    stamp = k * self.n + self.w  # unique per batch, rising per listing
                    at = T0 + timedelta(seconds=stamp)
                    t = time.perf_counter()
                    result = write_snapshots(conn, _batch(at, ids, prices, self.per_event),
                                             touch_interval_s=0)
                    self.commit_at[stamp] = time.time()  # committed: the clock starts
                    self.write_s.append(time.perf_counter() - t)
                    self.rows += len(ids)
                    t = time.perf_counter()
                    matcher.on_changes(result)
                    self.match_s.append(time.perf_counter() - t)
        finally:
            matcher.close()


def run(seconds: float, rate: int, dispatchers: int, events: int, per_event: int,
        users: int, rules: int, batches_per_s: int, writers: int, deep: float,
        coalesce: float, send_workers: int, batch_size: int, seed: int,
        log_dir: str | None = None, hook_share: float = 0.1) -> dict[str, Any]:
    rng = random.Random(seed)
    fakes = _Fakes()
    try:
        with scratch_database("ripcity_bench_alerts") as url:
            with psycopg.connect(url) as conn:
                from storage.ingest import write_snapshots

                base = _setup(conn, events, per_event, users, rules, rng,
                              fakes.info["hook_url"], fakes.info["hook_secret"], hook_share)
                ids = np.arange(len(base))
                write_snapshots(conn, _batch(T0, ids, base, per_event), touch_interval_s=0)
                conn.commit()
                conn.execute("ANALYZE")  # what autovacuum would have done by now
                conn.commit()
            baseline = _baseline_send_ms(fakes.info["smtp_port"])
            fakes.clear()
            env = {"RIPCITY_SMTP_HOST": "127.0.0.1",
                   "RIPCITY_SMTP_PORT": str(fakes.info["smtp_port"]),
                   "TWILIO_ACCOUNT_SID": fakes.info["sid"],
                   "TWILIO_AUTH_TOKEN": fakes.info["token"],
                   "TWILIO_FROM_NUMBER": "+15030000000",
                   "TWILIO_API_BASE": fakes.info["twilio_url"], "RIPCITY_LOG_LEVEL": "WARNING",
                   "RIPCITY_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}
            procs = _spawn(url, env, dispatchers, coalesce, send_workers, batch_size, log_dir)
            try:
                _wait_listening(url, dispatchers)  # started, connected, LISTENing
                order = np.random.default_rng(seed).permutation(events)
                per_batch = max(per_event, rate // batches_per_s)
                threads = [_Writer(w, writers, url, base, per_event, order[w::writers],
                                   per_batch, writers / batches_per_s, deep, seconds, seed)
                           for w in range(writers)]
                start = time.monotonic()
                for t in threads:
                    t.start_at = start
                    t.start()
                for t in threads:
                    t.join()
                    if t.error is not None:
                        raise t.error
                achieved = sum(t.rows for t in threads) / (time.monotonic() - start)
                with psycopg.connect(url, autocommit=True) as conn:
                    _drain(conn, 60 + coalesce)
                    commit_at = {k: v for t in threads for k, v in t.commit_at.items()}
                    out = _score(conn, fakes.accepted(), commit_at, coalesce, users)
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(10)
    finally:
        fakes.stop()
    write_s = [s for t in threads for s in t.write_s]
    match_s = [s for t in threads for s in t.match_s]
    return {
        "bench": "alerts", "seconds": seconds, "rules": rules, "users": users,
        "dispatchers": dispatchers, "send_workers": send_workers, "batch_size": batch_size,
        "writers": writers,
        "coalesce_seconds": coalesce, "deep_share": deep, "webhook_share": hook_share,
        "updates_per_s": round(achieved),
        **out,
        "ingest_commit_p50_ms": percentile_ms(write_s, 50),
        "rows_per_batch": per_batch,
        "match_p50_ms": percentile_ms(match_s, 50),
        "match_p99_ms": percentile_ms(match_s, 99),
        "baseline_send_ms": round(baseline, 2),
        "p99_over_baseline": round(out["p99_ms"] / baseline, 1) if baseline else None,
    }


def _wait_listening(url: str, n: int, timeout: float = 180.0) -> None:
    """Until ``n`` dispatchers LISTEN (a loaded machine takes seconds to start each one;
    without this wait their start-up would be counted as alert latency)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            (listening,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query ILIKE 'LISTEN %%'").fetchone()
            if listening >= n:
                time.sleep(0.5)
                return
            time.sleep(0.2)
    raise TimeoutError(f"{n} alert dispatchers did not start within {timeout:.0f}s")


def _drain(conn: psycopg.Connection[Any], timeout: float) -> None:
    """Wait until nothing is pending (held rows included), then for the last accepts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = conn.execute("SELECT count(*) FROM alert_outbox "
                            "WHERE status = 'pending'").fetchone()[0]
        if left == 0:
            break
        time.sleep(0.2)
    time.sleep(0.5)


def _score(conn: psycopg.Connection[Any], accepted: list[tuple[str, str, str, float]],
           commit_at: dict[int, float], coalesce: float, users: int) -> dict[str, Any]:
    keys = Counter((ch, k) for ch, k, _, _ in accepted)
    dup_messages = sum(n - 1 for n in keys.values() if n > 1)
    first_at: dict[tuple[str, str], float] = {}
    by_person: dict[tuple[str, str], list[float]] = defaultdict(list)
    for ch, k, to, at in sorted(accepted, key=lambda a: a[3]):
        first_at.setdefault((ch, k), at)
        by_person[(ch, to)].append(at)
    # Which matches each key carried: the primary row and the rows merged into it.
    rows = conn.execute(
        """SELECT o.channel, coalesce(p.idempotency_key, o.idempotency_key), o.status,
                  (m->>'match_id')::bigint, o.user_id,
                  extract(epoch FROM (m->>'observed_at')::timestamptz)::bigint,
                  CASE o.channel WHEN 'email' THEN u.email WHEN 'sms' THEN u.phone
                                 ELSE 'webhook' END,
                  extract(epoch FROM am.matched_at)::float8,
                  extract(epoch FROM coalesce(p.sent_at, o.sent_at))::float8
           FROM alert_outbox o JOIN users u ON u.id = o.user_id
           LEFT JOIN alert_outbox p ON p.id = o.merged_into
           CROSS JOIN LATERAL jsonb_array_elements(o.payload->'matches') m
           LEFT JOIN alert_matches am ON am.id = (m->>'match_id')::bigint""").fetchall()
    delivered: Counter[tuple[str, int]] = Counter()
    hook_lat: list[float] = []
    now_lat: list[float] = []
    held_lat: list[float] = []
    stages: dict[str, list[float]] = defaultdict(list)
    t0 = int(T0.timestamp())
    for channel, key, status, match_id, _user, observed, to, matched, claimed in rows:
        at = first_at.get((channel, key))
        if at is None or status != "sent":
            continue
        delivered[(channel, match_id)] += keys[(channel, key)]
        committed = commit_at[observed - t0]
        # Held by design: the person's previous message went out less than a window ago.
        before = [a for a in by_person[(channel, to)] if a < at]
        held = (channel != "webhook" and bool(coalesce) and bool(before)
                and committed < before[-1] + coalesce)
        (held_lat if held else now_lat).append((at - committed) * 1000)
        if channel == "webhook":
            hook_lat.append((at - committed) * 1000)
        if not held:  # where the time goes: matching, waiting for a dispatcher, the round
            for prefix in ("", "webhook_") if channel == "webhook" else ("",):
                stages[prefix + "match"].append((matched - committed) * 1000)
                stages[prefix + "queue"].append((claimed - matched) * 1000)
                stages[prefix + "round"].append((at - claimed) * 1000)
    expected = len(rows)
    span = max(commit_at.values()) - min(commit_at.values()) or 1.0
    lat = np.array(now_lat or [float("nan")])
    every = np.array(now_lat + held_lat or [float("nan")])
    return {
        "matches": expected, "sent": len(delivered),
        "duplicates": sum(n - 1 for n in delivered.values() if n > 1) + dup_messages,
        "lost": expected - len(delivered), "messages": len(accepted),
        "emails": sum(1 for a in accepted if a[0] == "email"),
        "sms": sum(1 for a in accepted if a[0] == "sms"),
        "webhook_deliveries": sum(1 for a in accepted if a[0] == "webhook"),
        "webhook_unverified": sum(1 for a in accepted if a[0] == "webhook"
                                  and a[2] != "ok"),
        "webhook_p50_ms": percentile_ms([x / 1000 for x in hook_lat], 50) if hook_lat else None,
        "webhook_p99_ms": percentile_ms([x / 1000 for x in hook_lat], 99) if hook_lat else None,
        "matches_per_s": round(expected / span),
        "alerts_per_person_min": round(expected / users / span * 60, 2),
        "max_alerts_one_person": max(Counter(u for u, _ in {(r[4], r[3]) for r in rows}
                                             ).values(), default=0),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "max_ms": round(float(lat.max()), 1),
        "held": len(held_lat),
        "held_p99_ms": round(float(np.percentile(held_lat, 99)), 1) if held_lat else None,
        "all_p99_ms": round(float(np.percentile(every, 99)), 1),
        "stages_p50_p99_ms": {k: [round(float(np.percentile(v, q)), 1) for q in (50, 99)]
                              for k, v in stages.items()},
    }


def main(argv: list[str] | None = None) -> None:
    p = arguments("bench.alerts", __doc__)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rate", type=int, default=10_000, help="listing updates per second")
    p.add_argument("--batches-per-s", type=int, default=5, help="all writers together")
    p.add_argument("--writers", type=int, default=2, help="ingest writer threads")
    p.add_argument("--deep", type=float, default=0.00006,
                   help="share of updates that are drops under the event's get-in price")
    p.add_argument("--coalesce-seconds", type=float, default=10.0)
    p.add_argument("--dispatchers", type=int, default=2)
    p.add_argument("--send-workers", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=100, help="outbox rows per claim")
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--per-event", type=int, default=100)
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--rules", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--webhook-share", type=float, default=0.1,
                   help="share of users with a webhook endpoint on their rules")
    p.add_argument("--log-dir", help="keep the dispatchers' DEBUG logs (round timings) here")
    p.add_argument("--serve-fakes", choices=("providers", "hooks"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.serve_fakes:
        _serve_fakes(a.serve_fakes)
        return
    out = run(a.seconds, a.rate, a.dispatchers, a.events, a.per_event, a.users, a.rules,
              a.batches_per_s, a.writers, a.deep, a.coalesce_seconds, a.send_workers,
              a.batch_size, a.seed, a.log_dir, a.webhook_share)
    emit(out)


if __name__ == "__main__":
    main()
