"""Ingest throughput: the full idempotent write path against a bare binary COPY.

    python -m bench.ingest --rows 1000000 [--passes 10]

Prints one JSON object. The workload is a re-crawl, as the engine produces it: ``rows``
listing observations across ``--events`` events, in ``--passes`` crawls of rows/passes
listings five minutes apart (the cadence of events in the next days). The first pass sees
every listing new; each later pass repeats them with 5 % of prices changed and 2 % of the
listings sold and replaced by new ones. ``--passes 2`` is the worst case (half the rows are
new listings; the second pass changes 10 % of prices). Each batch holds every listing of its
events (``--batch-rows`` is rounded to whole events), as the engine sends a shard that fits
one chunk: ``complete``, so listings missing from it are marked gone. ``--partial`` sends the
batches as pages of longer crawls instead: no gone marking, and unchanged listings are
touched at the last_seen resolution. Baseline: the same rows as binary COPY into an
unindexed UNLOGGED table, measured in the same run on the same server, each batch just
before its real write (interleaved, so a shared machine's changing load weighs on both
alike).

Also prints ``cpu_us_per_listing``: the CPU of the real writes (this process and its
PostgreSQL backend, when the server runs on this machine) per listing observation, and
``postgres``: the server's version and the settings that CPU depends on
(``bench.harness.server_settings``).

Uses a scratch database (``bench.harness.scratch_database``: RIPCITY_DATABASE_URL's server,
else 127.0.0.1:5432, else the embedded one), dropped afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psutil
import psycopg
import pyarrow as pa

from bench.harness import (
    Stopwatch,
    arguments,
    emit,
    peak_rss_mb,
    process_cpu,
    scratch_database,
    server_settings,
)
from storage.copy import copy_arrow
from storage.ingest import write_snapshots
from storage.records import LISTING_SCHEMA


def _make_pass(n: int, events: int, at: datetime, rng: np.random.Generator,
               base_price: np.ndarray | None, ids: np.ndarray, change_share: float,
               ) -> tuple[pa.Table, np.ndarray]:
    per_event = max(1, n // events)
    idx = np.arange(n)
    ev = idx // per_event % events
    price = base_price if base_price is not None else rng.integers(2_000, 60_000, n)
    if base_price is not None:  # a share of listings change price
        changed = rng.random(n) < change_share
        price = np.where(changed, price + rng.integers(-1_500, 1_500, n), price)
        price = np.maximum(price, 100)
    fees = price // 5
    table = pa.table(
        {
            "observed_at": pa.array(np.full(n, int(at.timestamp() * 1e6)),
                                    pa.timestamp("us", tz="UTC")),
            "marketplace": pa.array(np.full(n, "seatgeek", dtype=object), pa.string()),
            "listing_id": pa.array([f"L{i}" for i in ids], pa.string()),
            "source_event_id": pa.array([f"E{e}" for e in ev], pa.string()),
            "section": pa.array([str(100 + i % 40) for i in idx], pa.string()),
            "row": pa.array([str(1 + i % 25) for i in idx], pa.string()),
            "seats": pa.nulls(n, pa.string()),
            "quantity": pa.array(1 + idx % 4, pa.int32()),
            "splits": pa.nulls(n, pa.string()),
            "price_cents": pa.array(price, pa.int64()),
            "fees_cents": pa.array(fees, pa.int64()),
            "total_cents": pa.array(price + fees, pa.int64()),
            "currency": pa.array(np.full(n, "USD", dtype=object), pa.string()),
            "delivery": pa.array(np.full(n, "mobile", dtype=object), pa.string()),
            "kind": pa.array(np.full(n, "resale", dtype=object), pa.string()),
            "zone": pa.nulls(n, pa.string()),
        },
        schema=LISTING_SCHEMA,
    )
    return table, price


def _passes(rows: int, events: int, passes: int, t0: datetime) -> list[pa.Table]:
    """The crawls of the workload (see the module docstring)."""
    rng = np.random.default_rng(7)
    per = rows // passes
    ids = np.arange(per)
    next_id = per
    change_share, churn = (0.10, 0.0) if passes == 2 else (0.05, 0.02)
    out, price = [], None
    for p in range(passes):
        if p and churn:  # sold listings are replaced by new ones in the same slots
            sold = rng.random(per) < churn
            ids = ids.copy()
            ids[sold] = np.arange(next_id, next_id + int(sold.sum()))
            next_id += int(sold.sum())
        table, price = _make_pass(per, events, t0 + timedelta(minutes=5 * p), rng, price, ids,
                                  change_share)
        out.append(table)
    return out


def _backend_cpu(conn: psycopg.Connection) -> Any:
    """A function giving the CPU seconds the connection's server process has used so far
    (0 when the server is not on this machine: then only the writer's CPU is counted)."""
    pid = conn.info.backend_pid
    try:
        process_cpu(pid)
    except (psutil.Error, OSError):
        return lambda: 0.0
    return lambda: sum(process_cpu(pid))


def run(rows: int, events: int, batch_rows: int, touch_interval_s: float | None = None,
        passes: int = 10, partial: bool = False) -> dict[str, object]:
    t0 = datetime(2026, 11, 24, 12, tzinfo=UTC)
    crawls = _passes(rows, events, passes, t0)
    per_event = max(1, crawls[0].num_rows // events)
    if not partial:  # a complete batch must hold whole events
        batch_rows = max(per_event, batch_rows // per_event * per_event)

    with scratch_database("ripcity_bench_ingest") as url, psycopg.connect(url) as conn:
        conn.autocommit = True
        server = server_settings(url)
        conn.execute("SELECT ripcity_ensure_partitions(%s, %s)", (t0, t0 + timedelta(1)))
        conn.execute(
            "WITH e AS (INSERT INTO events (name, starts_at) SELECT 'Event ' || g, "
            "now() + g * interval '1 hour' FROM generate_series(0, %s - 1) g "
            "RETURNING id, name) INSERT INTO event_sources (marketplace, source_event_id, "
            "event_id) SELECT 'seatgeek', 'E' || split_part(name, ' ', 2), id FROM e",
            (events,),
        )
        # baseline: bare binary COPY of the same rows into an unindexed UNLOGGED table,
        # batch by batch interleaved with the real writes, so the load of a shared
        # machine weighs on both sides alike
        conn.execute("CREATE UNLOGGED TABLE bare (LIKE listing_snapshots) ")
        conn.execute("ALTER TABLE bare DROP COLUMN event_id")
        cols = ", ".join(f'"{c}"' for c in LISTING_SCHEMA.names)
        conn.execute("CHECKPOINT")
        counts = {"inserted": 0, "unchanged": 0, "new": 0, "changes": 0, "gone": 0,
                  "quarantined": 0}
        base_s = seconds = client_cpu = server_cpu = 0.0
        backend = _backend_cpu(conn)
        for t in crawls:
            for off in range(0, t.num_rows, batch_rows):
                part = t.slice(off, batch_rows)
                with Stopwatch() as bare, conn.transaction(), conn.cursor() as cur:
                    copy_arrow(cur, part, f"bare ({cols})")
                base_s += bare.seconds
                server_before = backend()
                with Stopwatch() as real:
                    r = write_snapshots(conn, part, complete=not partial,
                                        touch_interval_s=touch_interval_s)
                seconds += real.seconds
                client_cpu += real.cpu_seconds
                server_cpu += backend() - server_before
                counts["inserted"] += r.inserted
                counts["unchanged"] += r.unchanged
                counts["new"] += r.new_listings.num_rows
                counts["changes"] += r.price_changes.num_rows
                counts["gone"] += r.gone.num_rows
                counts["quarantined"] += r.quarantined

    total = sum(t.num_rows for t in crawls)
    per = crawls[0].num_rows
    rps = total / seconds
    base = total / base_s
    return {
        "rows": total,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rps),
        "baseline_rows_per_s": round(base),
        "ratio": round(rps / base, 3),
        # CPU of the real writes only (this process + its PostgreSQL backend), per listing
        "cpu_us_per_listing": round((client_cpu + server_cpu) / total * 1e6, 2),
        "cpu_us_per_listing_by_role": {"writer": round(client_cpu / total * 1e6, 2),
                                       "postgres": round(server_cpu / total * 1e6, 2)},
        "peak_rss_mb": peak_rss_mb(),
        "workload": (
            f"{total} listing observations, {events} events, write_snapshots in batches of "
            f"{batch_rows}: {passes} crawls of {per} listings 5 min apart; pass 1 all new, "
            + ("pass 2 repeats them with 10% price changes" if passes == 2 else
               "each later pass repeats them with 5% price changes and 2% sold and replaced")
            + ("; batches are pages of longer crawls" if partial else
               "; each batch holds whole events (complete: the missing are marked gone)")
            + "; baseline = bare binary COPY (pgpq) of the same "
            "rows into an unindexed UNLOGGED table, each batch right before its real write; "
            "last_seen resolution "
            f"{'default' if touch_interval_s is None else touch_interval_s} s"
        ),
        "postgres": server,
        **counts,
    }


def main() -> None:
    parser = arguments("bench.ingest", __doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--batch-rows", type=int, default=50_000)
    parser.add_argument("--passes", type=int, default=10,
                        help="crawls the rows are split into (2 = worst case: half new)")
    parser.add_argument("--touch-interval-s", type=float, default=None,
                        help="RIPCITY_LAST_SEEN_RESOLUTION_S for the run (0 = touch every "
                        "unchanged listing on every pass)")
    parser.add_argument("--partial", action="store_true",
                        help="send batches as pages of longer crawls, not whole events")
    args = parser.parse_args()
    emit(run(args.rows, args.events, args.batch_rows, args.touch_interval_s, args.passes,
             args.partial))


if __name__ == "__main__":
    main()
