"""Alert latency: price drop committed -> message accepted by the SMTP / Twilio-format server.

``python -m bench.alerts [--seconds 10] [--rate 10000] [--dispatchers 2]`` builds a scratch
database with 100,000 rules across 10,000 users (a tenth premium with SMS as well), drives
listing updates through the real ingest path (``storage.ingest.write_snapshots`` then the
``engine.alerts`` change hook, as ``IngestWriter.write`` does) at ``--rate`` updates per
second, runs ``ripcity alerts dispatch`` processes against a local aiosmtpd server and the
Twilio-format server, and prints one JSON object:

``matches`` (match rows x channels expected), ``sent`` (of those, delivered), ``duplicates``
(delivered more than once), ``lost`` (never delivered), ``p50_ms`` / ``p99_ms`` (commit of the
matching change -> the server accepting the message), and ``baseline_send_ms``: one direct
SMTP send measured in the same run, so ``p99_over_baseline`` is comparable across machines.
Goal: p99_ms <= 1000 with duplicates = lost = 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa

from bench.pipeline import scratch_database
from storage.records import LISTING_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2031, 1, 1, tzinfo=UTC)


def _setup(conn: psycopg.Connection[Any], events: int, per_event: int, users: int,
           rules: int, rng: random.Random) -> np.ndarray:
    """Events, users and rules; returns the base all-in price of every listing."""
    with conn.cursor() as cur:
        with cur.copy("COPY events (name, performers) FROM STDIN") as cp:
            for e in range(events):
                cp.write_row((f"Bench event {e}", ["Bench Band"]))
        cur.execute("""INSERT INTO event_sources (marketplace, source_event_id, event_id)
                       SELECT 'seatgeek', 'E' || id, id FROM events""")
        with cur.copy("COPY users (email, phone, plan) FROM STDIN") as cp:
            for u in range(users):
                premium = u % 10 == 0
                cp.write_row((f"u{u}@bench.test", f"+1503{u:07d}",
                              "premium" if premium else "free"))
        base = np.array([rng.randint(5_000, 40_000) for _ in range(events * per_event)])
        # Thresholds well under the base prices: only deep drops match.
        with cur.copy("COPY alert_rules (user_id, event_id, kind, threshold_cents, channels) "
                      "FROM STDIN") as cp:
            for r in range(rules):
                u = r % users
                e = rng.randrange(events)
                lo = int(base[e * per_event:(e + 1) * per_event].min())
                channels = ["email", "sms"] if u % 10 == 0 else ["email"]
                cp.write_row((u + 1, e + 1, "price_at_or_below", int(lo * rng.uniform(0.5, 0.62)),
                              channels))
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    return base


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


def _spawn(url: str, env: dict[str, str], n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "alerts", "dispatch", "--database-url", url,
         "--coalesce-seconds", "0", "--daily-cap", "1000000", "--batch-size", "50"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL) for _ in range(n)]


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


def run(seconds: float, rate: int, dispatchers: int, events: int, per_event: int,
        users: int, rules: int, batches_per_s: int, seed: int) -> dict[str, Any]:
    from engine.alerts.matcher import AlertMatcher
    from storage.ingest import write_snapshots
    from tests.fakes.smtp_server import SmtpBox
    from tests.fakes.twilio_server import FakeTwilio

    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    smtp, twilio = SmtpBox().start(), FakeTwilio().start()
    try:
        with scratch_database("bench_alerts") as url:
            with psycopg.connect(url) as conn:
                base = _setup(conn, events, per_event, users, rules, rng)
                n_listings = len(base)
                ids = np.arange(n_listings)
                write_snapshots(conn, _batch(T0, ids, base, per_event), touch_interval_s=0)
                conn.commit()
                conn.execute("ANALYZE")  # what autovacuum would have done by now
                conn.commit()
            baseline = _baseline_send_ms(smtp.port)
            smtp.received.clear()
            env = {"RIPCITY_SMTP_HOST": "127.0.0.1", "RIPCITY_SMTP_PORT": str(smtp.port),
                   "TWILIO_ACCOUNT_SID": twilio.account_sid,
                   "TWILIO_AUTH_TOKEN": twilio.auth_token, "TWILIO_FROM_NUMBER": "+15030000000",
                   "TWILIO_API_BASE": twilio.url, "RIPCITY_LOG_LEVEL": "WARNING"}
            procs = _spawn(url, env, dispatchers)
            matcher = AlertMatcher(url)
            commit_at: dict[int, float] = {}
            per_batch = rate // batches_per_s
            current = base.copy()
            write_s: list[float] = []
            match_s: list[float] = []
            try:
                time.sleep(2.0)  # dispatchers connect and LISTEN
                with psycopg.connect(url) as conn:
                    start = time.monotonic()
                    k = 0
                    while time.monotonic() - start < seconds:
                        k += 1
                        due = start + k / batches_per_s
                        pick = nprng.choice(n_listings, per_batch, replace=False)
                        # Most updates wiggle; ~0.4 % are deep drops (the alert-worthy ones).
                        factor = nprng.uniform(0.93, 1.07, per_batch)
                        deep = nprng.random(per_batch) < 0.004
                        factor[deep] = nprng.uniform(0.3, 0.6, int(deep.sum()))
                        new = np.maximum(100, (base[pick] * factor).astype(np.int64))
                        current[pick] = new
                        at = T0 + timedelta(seconds=k)
                        t = time.perf_counter()
                        result = write_snapshots(conn, _batch(at, pick, new, per_event),
                                                 touch_interval_s=0)
                        commit_at[k] = time.time()  # committed: the clock starts
                        write_s.append(time.perf_counter() - t)
                        t = time.perf_counter()
                        matcher.on_changes(result)
                        match_s.append(time.perf_counter() - t)
                        time.sleep(max(0.0, due - time.monotonic()))
                    achieved = k * per_batch / (time.monotonic() - start)
                # drain: wait until nothing is pending
                deadline = time.monotonic() + 60
                with psycopg.connect(url, autocommit=True) as conn:
                    while time.monotonic() < deadline:
                        left = conn.execute("SELECT count(*) FROM alert_outbox "
                                            "WHERE status = 'pending'").fetchone()[0]
                        if left == 0:
                            break
                        time.sleep(0.2)
                    time.sleep(0.5)
                    return _score(conn, smtp, twilio, commit_at, baseline, achieved,
                                  write_s, match_s, rules, users, dispatchers, seconds)
            finally:
                matcher.close()
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(10)
    finally:
        smtp.stop()
        twilio.stop()


def _score(conn: psycopg.Connection[Any], smtp: Any, twilio: Any, commit_at: dict[int, float],
           baseline: float, achieved: float, write_s: list[float], match_s: list[float],
           rules: int, users: int, dispatchers: int, seconds: float) -> dict[str, Any]:
    # Every message the servers accepted, by idempotency key.
    accepted: list[tuple[str, str, float]] = []
    for r in smtp.received:
        accepted.append(("email", str(r.message["X-Ripcity-Alert"]), r.accepted_at))
    for m in twilio.messages:
        found = re.search(r"ref (\S+)$", m.body)
        accepted.append(("sms", found.group(1) if found else "?", m.accepted_at))
    keys = Counter((ch, k) for ch, k, _ in accepted)
    dup_messages = sum(n - 1 for n in keys.values() if n > 1)
    first_at = {}
    for ch, k, at in sorted(accepted, key=lambda a: a[2]):
        first_at.setdefault((ch, k), at)
    # Which matches each key carried: the primary row and the rows merged into it.
    rows = conn.execute(
        """SELECT o.channel, coalesce(p.idempotency_key, o.idempotency_key), o.status,
                  (m->>'match_id')::bigint,
                  extract(epoch FROM (m->>'observed_at')::timestamptz)::bigint
           FROM alert_outbox o
           LEFT JOIN alert_outbox p ON p.id = o.merged_into
           CROSS JOIN LATERAL jsonb_array_elements(o.payload->'matches') m""").fetchall()
    delivered: Counter[tuple[str, int]] = Counter()
    latencies = []
    t0 = int(T0.timestamp())
    for channel, key, status, match_id, observed in rows:
        at = first_at.get((channel, key))
        if at is None or status != "sent":
            continue
        delivered[(channel, match_id)] += keys[(channel, key)]
        latencies.append((at - commit_at[observed - t0]) * 1000)
    expected = len(rows)
    lat = np.array(latencies) if latencies else np.array([float("nan")])
    p99 = float(np.percentile(lat, 99))
    return {
        "bench": "alerts", "seconds": seconds, "rules": rules, "users": users,
        "dispatchers": dispatchers, "updates_per_s": round(achieved),
        "matches": expected, "sent": len(delivered),
        "duplicates": sum(n - 1 for n in delivered.values() if n > 1) + dup_messages,
        "lost": expected - len(delivered),
        "messages": len(accepted), "emails": len(smtp.received), "sms": len(twilio.messages),
        "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(p99, 1),
        "max_ms": round(float(lat.max()), 1),
        "ingest_commit_p50_ms": round(float(np.median(write_s)) * 1000, 1),
        "match_p50_ms": round(float(np.median(match_s)) * 1000, 1),
        "match_p99_ms": round(float(np.percentile(match_s, 99)) * 1000, 1),
        "baseline_send_ms": round(baseline, 2),
        "p99_over_baseline": round(p99 / baseline, 1) if baseline else None,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=int, default=10_000, help="listing updates per second")
    p.add_argument("--batches-per-s", type=int, default=5)
    p.add_argument("--dispatchers", type=int, default=2)
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--per-event", type=int, default=100)
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--rules", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    out = run(a.seconds, a.rate, a.dispatchers, a.events, a.per_event, a.users, a.rules,
              a.batches_per_s, a.seed)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
