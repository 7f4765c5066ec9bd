"""End-to-end pipeline throughput: sandbox -> Ray crawl workers -> ingest -> scoring.

    python -m bench.pipeline --listings 1000000

Prints ONE JSON object: ``listings`` (committed), ``seconds`` (one full crawl cycle:
discovery, every event on every marketplace, commit, scoring), ``listings_per_s``,
``peak_rss_mb`` (this process and all its children: Ray's raylet, GCS, workers, actors,
the sandbox), ``lost`` / ``duplicated`` (against the sandbox's truth), ``unscored`` /
``unmatched`` (live listings without a deal score or in a batch whose scoring is pending;
committed changes whose alert matching is pending: ``storage.post_commit``), ``refresh_p95_ms``
(refresh request row -> fresh listings queryable), ``recrawl`` (the same numbers for a
second crawl of everything after the sandbox clock moved: the steady state, where most
listings are unchanged), ``identity`` (pairwise precision and recall of event and venue
identity against ``/_sandbox/truth/events``), ``cpu_s`` (CPU seconds of each role during
the crawl: crawl workers, writers, scorers, change relay, sandbox, PostgreSQL backends, the
rest of Ray), ``postgres`` (the server's version and the settings its CPU per listing
depends on: ``bench.harness.server_settings``) and
``workload``. The headline numbers are the first crawl, where
every listing is new (the most database work per listing). The baseline, measured
in the same run on the same server, is one process writing the same number of rows with
``storage.ingest.write_snapshots`` directly (no crawling, no Ray): ``vs_direct_ingest`` is
the pipeline's rate over that.

``--nodes N`` runs the same workload twice in one run, on one node (local Ray) and on a real
Ray cluster started on this machine (``bench.cluster``: a head plus N worker nodes), and
prints both (``one_node``, ``cluster``) with ``listings_per_s_ratio``.

Uses a scratch database (``bench.harness.scratch_database``: RIPCITY_DATABASE_URL's server,
else 127.0.0.1:5432, else the embedded one), dropped afterwards. ``compare`` (the database
against the sandbox's truth) is shared with the engine's end-to-end tests. Exits 1, saying
which, when lost, duplicated, unscored or unmatched is not 0 (first crawl or re-crawl).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import psycopg

from bench.harness import (
    RssSampler,
    arguments,
    database_name,
    emit,
    fresh_data_dir,
    iter_truth,
    scratch_database,
    server_settings,
)


# --- the database against the sandbox's truth (also the engine's end-to-end tests') ------
def truth_keys(base_url: str, markets: tuple[str, ...] | None = None
               ) -> Iterator[tuple[str, str]]:
    """Every (marketplace, listing_id) the sandbox serves right now (malformed ones out),
    on ``markets`` (all by default), one event at a time."""
    for truth in iter_truth(base_url):
        for item in truth["listings"]:
            for market, shown in item["marketplaces"].items():
                if not shown.get("malformed") and (not markets or market in markets):
                    yield market, str(shown["listing_id"])


# the keys are compared in the database, not as Python sets in this process: two sets of a
# million (marketplace, id) tuples held ~0.5 GB that stayed in the benchmark's RSS (it is
# counted in ``peak_rss_mb``) for the rest of the run
_TRUTH = "CREATE TEMP TABLE _bench_truth (marketplace text, listing_id text) ON COMMIT DROP"
_KEYS = """
WITH truth AS (SELECT DISTINCT marketplace, listing_id FROM _bench_truth),
     live AS (SELECT marketplace, listing_id FROM listings_current WHERE gone_at IS NULL)
SELECT (SELECT count(*) FROM truth), (SELECT count(*) FROM live),
       (SELECT count(*) FROM truth t WHERE NOT EXISTS (
            SELECT FROM live l WHERE l.marketplace = t.marketplace
                                 AND l.listing_id = t.listing_id)),
       (SELECT count(*) FROM live l WHERE NOT EXISTS (
            SELECT FROM truth t WHERE t.marketplace = l.marketplace
                                  AND t.listing_id = l.listing_id))
"""


def key_counts(conn: psycopg.Connection, base_url: str,
               markets: tuple[str, ...] | None = None) -> dict[str, int]:
    """How many listings the sandbox serves (``expected``) and the database holds live
    (``stored``), and how many of each the other lacks (``lost`` / ``unexpected``)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS pg_temp._bench_truth")  # a caller's open transaction
        cur.execute(_TRUTH)
        with cur.copy("COPY _bench_truth (marketplace, listing_id) FROM STDIN") as copy:
            for key in truth_keys(base_url, markets):
                copy.write_row(key)
        cur.execute("ANALYZE _bench_truth")
        row = cur.execute(_KEYS).fetchone()
    assert row is not None
    return dict(zip(("expected", "stored", "lost", "unexpected"), map(int, row), strict=True))


def duplicated_snapshots(conn: psycopg.Connection) -> int:
    """Snapshot rows beyond one per (listing, observation): what a retried write would add
    if it were not idempotent, plus repeated observations of an unchanged listing."""
    row = conn.execute(
        "SELECT count(*) - count(DISTINCT (marketplace, listing_id, total_cents, quantity)) "
        "FROM listing_snapshots").fetchone()
    return int(row[0]) if row else 0


def post_commit_left(conn: psycopg.Connection) -> dict[str, int]:
    """Post-commit work not done: ``unscored`` live listings (no deal score, or in a
    committed batch whose scoring is still pending) and ``unmatched`` committed change
    batches whose alert matching is still pending (``storage.post_commit``)."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM listings_current WHERE gone_at IS NULL "
        "        AND deal_score IS NULL), "
        "       (SELECT count(*) FROM post_commit_work WHERE score_pending), "
        "       (SELECT count(*) FROM post_commit_work WHERE match_pending)").fetchone()
    assert row is not None
    return {"unscored": int(row[0]) + int(row[1]), "unmatched": int(row[2])}


def compare(conn: psycopg.Connection, base_url: str,
            markets: tuple[str, ...] | None = None) -> dict[str, int]:
    """Lost / unexpected / duplicated listings of the database against the sandbox, and
    post-commit work left undone (unscored / unmatched)."""
    return {**key_counts(conn, base_url, markets), "duplicated": duplicated_snapshots(conn),
            **post_commit_left(conn)}


#: what must be 0 after a cycle (the benchmark fails loudly otherwise)
MUST_BE_ZERO = ("lost", "duplicated", "unscored", "unmatched")


_ROLES = (("ray::CrawlWorker", "crawl_workers"), ("ray::IngestWriter", "writers"),
          ("ray::DealScorer", "scorers"), ("ray::ChangeRelay", "change_relay"),
          ("ray::CrawlCoordinator", "coordinator"), ("sandbox", "sandbox"),
          ("bench.pipeline", "driver"))


def cpu_seconds(database: str) -> dict[str, float]:
    """CPU seconds so far by role: this process's descendants (Ray's actors by name, the
    rest of Ray as ``ray_system``) and the PostgreSQL backends serving ``database``. A
    backend that has already exited is not counted (the engine's connections are pooled)."""
    out: dict[str, float] = {}
    me = psutil.Process()
    procs = [(p, None) for p in [me, *me.children(recursive=True)]]
    procs += [(p, "postgres") for p in psutil.process_iter()
              if p.pid != me.pid and _is_backend(p, database)]
    for proc, role in procs:
        try:
            cmd = " ".join(proc.cmdline())
            times = proc.cpu_times()
        except psutil.Error:
            continue
        if role is None:
            role = next((r for key, r in _ROLES if key in cmd), "ray_system")
        out[role] = out.get(role, 0.0) + times.user + times.system
    return out


def _is_backend(proc: psutil.Process, database: str) -> bool:
    try:
        return proc.name().startswith("postgres") and f" {database} " in " ".join(
            proc.cmdline())
    except psutil.Error:
        return False


def _cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    roles = sorted(set(before) | set(after), key=lambda r: -(after.get(r, 0) - before.get(r, 0)))
    return {r: round(after.get(r, 0.0) - before.get(r, 0.0), 1) for r in roles}


# --- the benchmark -----------------------------------------------------------------------
def _direct_ingest_rate(url: str, rows: int) -> float:
    """Baseline: one process, ``write_snapshots`` of synthetic batches, no crawl, no Ray."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from storage.ingest import upsert_events, write_snapshots
    from storage.records import LISTING_SCHEMA, EventRecord

    n_events, chunk = 20, 20_000
    at = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        upsert_events(conn, [EventRecord("seatgeek", f"BASE{e}", f"Baseline {e}", at)
                             for e in range(n_events)])
        conn.commit()
        t0 = time.perf_counter()
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            ids = range(start, start + n)
            cols = {f.name: pa.nulls(n, f.type) for f in LISTING_SCHEMA}
            cols.update(
                observed_at=pa.array([at] * n, LISTING_SCHEMA.field("observed_at").type),
                marketplace=pa.array(["seatgeek"] * n), listing_id=pa.array(
                    [f"B{i}" for i in ids]), source_event_id=pa.array(
                    [f"BASE{i % n_events}" for i in ids]), section=pa.array(
                    [str(100 + i % 40) for i in ids]), quantity=pa.array(
                    [2] * n, pa.int32()), price_cents=pa.array([5000 + i % 900 for i in ids],
                                                               pa.int64()),
                fees_cents=pa.array([900] * n, pa.int64()), total_cents=pa.array(
                    [5900 + i % 900 for i in ids], pa.int64()))
            batch = pa.RecordBatch.from_pydict(cols, schema=LISTING_SCHEMA)
            write_snapshots(conn, batch)
            conn.commit()
        seconds = time.perf_counter() - t0
        conn.execute("DELETE FROM listings_current WHERE source_event_id LIKE 'BASE%'")
        conn.execute("DELETE FROM listing_snapshots WHERE source_event_id LIKE 'BASE%'")
        conn.commit()
    return rows / seconds


def _refresh_latencies(url: str, engine: Any, n: int, base_url: str) -> list[float]:
    """Insert refresh requests (as the API does) and time until they are done, i.e. the
    event's fresh listings are committed and readable. The sandbox clock moves ten minutes
    before each request, so prices have really changed."""
    from engine.crawl.refresh import RefreshListener

    listener = RefreshListener(url, lambda pairs: engine.refresh(engine.targets_for(pairs)),
                               engine.wait_shards).start()
    out: list[float] = []
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            events = [r[0] for r in conn.execute(
                "SELECT DISTINCT event_id FROM listings_current ORDER BY 1 LIMIT %s",
                (n,)).fetchall()]
            time.sleep(0.5)  # listener connected and listening
            for event_id in events:
                httpx.post(f"{base_url}/_sandbox/clock", json={"seconds": 600})
                t0 = time.perf_counter()
                request_id = conn.execute(
                    "INSERT INTO refresh_requests (event_id) VALUES (%s) RETURNING id",
                    (event_id,)).fetchone()[0]
                while time.perf_counter() - t0 < 30:
                    status = conn.execute("SELECT status FROM refresh_requests WHERE id = %s",
                                          (request_id,)).fetchone()[0]
                    if status == "done":
                        out.append((time.perf_counter() - t0) * 1000)
                        break
                    if status == "failed":
                        break
                    time.sleep(0.005)
    finally:
        listener.stop()
    return out


def _recrawl(engine: Any, url: str, base_url: str, spiders: tuple[str, ...],
             before: dict[str, Any], hours: float) -> dict[str, Any]:
    """Move the sandbox clock ``hours`` and crawl every event again: the steady state
    (most listings unchanged, some repriced, new or sold). Counts are this cycle's."""
    httpx.post(f"{base_url}/_sandbox/clock", json={"seconds": hours * 3600})
    database = database_name(url)
    cpu0 = cpu_seconds(database)
    after = engine.run_cycle(timeout=3600)
    cpu = _cpu_delta(cpu0, cpu_seconds(database))
    seconds = after["cycle_seconds"]

    def delta(key: str) -> int:
        return int(after.get(key, 0) or 0) - int(before.get(key, 0) or 0)

    with psycopg.connect(url) as conn:
        check = compare(conn, base_url, spiders)
    listings = delta("committed_listings")
    return {"listings": listings, "seconds": seconds,
            "listings_per_s": round(listings / seconds) if seconds else 0,
            "shards": delta("acked"), "new_listings": delta("total_new_listings"),
            "price_changes": delta("total_price_changes"), "gone": delta("total_gone"),
            "errors": int(after.get("errors", 0) or 0) - int(before.get("errors", 0) or 0),
            "lost": check["lost"], "unexpected": check["unexpected"],
            "duplicated": check["duplicated"], "unscored": check["unscored"],
            "unmatched": check["unmatched"], "cpu_s": cpu,
            "cpu_us_per_listing": round(sum(cpu.values()) / listings * 1e6) if listings
            else None}


def _measure(args: Any, spiders: tuple[str, ...], events: int,
             ray_address: str | None = None) -> dict[str, Any]:
    """One full measurement (first crawl, re-crawl, refreshes) on a fresh database and
    sandbox; Ray local, or the cluster at ``ray_address``."""
    from engine.identity.quality import grade_against_sandbox
    from engine.session import engine_session
    from engine.settings import load_settings
    from sandbox.server import start_sandbox

    recrawl: dict[str, Any] | None = None
    with fresh_data_dir(), scratch_database("ripcity_bench_pipeline") as url, \
            RssSampler() as rss:
        sandbox = start_sandbox(port=0, seed=7, events=events,
                                listings_per_event=args.listings_per_event,
                                faults=args.faults, clock_speed=0.0)
        try:
            baseline = _direct_ingest_rate(url, min(200_000, args.listings))
            server = server_settings(url)
            settings = load_settings()
            t_start = time.perf_counter()
            with engine_session(settings, database_url=url, sandbox=sandbox,
                                ray_address=ray_address,
                                num_cpus=args.num_cpus, spiders=spiders,
                                crawl_workers=args.workers, ingest_writers=args.writers,
                                scorers=args.scorers, chunk_rows=args.chunk_rows,
                                max_inflight_batches=args.inflight,
                                events_per_shard=args.events_per_shard,
                                speed=1e9) as session:  # every event due again at once
                startup = time.perf_counter() - t_start
                database = database_name(url)
                cpu0 = cpu_seconds(database)
                summary = session.engine.run_cycle(timeout=3600)
                cpu = _cpu_delta(cpu0, cpu_seconds(database))
                seconds = summary["cycle_seconds"]
                with psycopg.connect(url) as conn:
                    check = compare(conn, sandbox.base_url, spiders)
                identity = grade_against_sandbox(url, sandbox.base_url)
                if args.recrawl_hours > 0:
                    recrawl = _recrawl(session.engine, url, sandbox.base_url, spiders,
                                       summary, args.recrawl_hours)
                latencies = _refresh_latencies(url, session.engine, args.refreshes,
                                               sandbox.base_url)
        finally:
            sandbox.stop()
        committed = summary.get("committed_listings", 0)
        latencies.sort()
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies \
            else None
        return {
            "listings": committed, "seconds": seconds,
            "listings_per_s": round(committed / seconds) if seconds else 0,
            "peak_rss_mb": round(rss.peak_mb), "lost": check["lost"],
            "duplicated": check["duplicated"], "unexpected": check["unexpected"],
            "unscored": check["unscored"], "unmatched": check["unmatched"],
            "expected": check["expected"], "refresh_p95_ms": p95 and round(p95),
            "refreshes": len(latencies), "shards": summary.get("acked", 0),
            "errors": summary.get("errors", 0),
            "rejects": summary.get("total_rejects", 0), "startup_s": round(startup, 1),
            "baseline_direct_ingest_per_s": round(baseline),
            "vs_direct_ingest": round(committed / seconds / baseline, 3) if seconds else 0,
            "cpu_s": cpu, "cpu_us_per_listing": round(
                sum(cpu.values()) / committed * 1e6) if committed else None,
            "recrawl": recrawl, "identity": identity, "postgres": server,
        }


def cluster_shape(nodes: int, writers: int, workers: int) -> dict[str, int]:
    """Worker nodes of a ``--nodes N`` cluster beside its head: enough ingest nodes for the
    writers and the change relay (each asks for one ``ingest`` unit), enough crawl nodes for
    the crawl workers, the rest crawl and ingest in turn; at least ``nodes`` in all."""
    import math

    from bench.cluster import node_types

    types = node_types()
    ingest = math.ceil((writers + 1) / types["ripcity.ingest"]["ingest"])
    crawl = math.ceil(workers / types["ripcity.crawl"]["crawl"])
    while crawl + ingest < nodes:
        if crawl <= ingest:
            crawl += 1
        else:
            ingest += 1
    return {"ripcity.crawl": crawl, "ripcity.ingest": ingest}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = arguments("bench.pipeline", __doc__)
    parser.add_argument("--listings", type=int, default=1_000_000)
    parser.add_argument("--listings-per-event", type=int, default=2500,
                        help="per event and marketplace in the sandbox")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--scorers", type=int, default=1)
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    parser.add_argument("--inflight", type=int, default=8)
    parser.add_argument("--faults", default="none", choices=("none", "light", "heavy"))
    parser.add_argument("--refreshes", type=int, default=20)
    parser.add_argument("--num-cpus", type=int, default=None)
    parser.add_argument("--events-per-shard", type=int, default=8,
                        help="events of unknown size one crawl shard covers; events of known "
                             "size (crawled before, or counted by discovery) fill a shard up "
                             "to one chunk")
    parser.add_argument("--recrawl-hours", type=float, default=1.0,
                        help="then move the sandbox clock this far and crawl everything "
                             "again (prices moved, some listings sold); 0 = no re-crawl")
    parser.add_argument("--nodes", type=int, default=1,
                        help="N > 1: the same workload on one node (local Ray), then on a "
                             "real Ray cluster on this machine (bench.cluster: a head and N "
                             "worker nodes, crawl and ingest in turn); prints both and the "
                             "ratio")
    args = parser.parse_args(argv)
    from engine.orchestrator import EngineOptions

    os.environ.setdefault("RIPCITY_LOG_LEVEL", "WARNING")
    spiders = ("ticketmaster", "seatgeek", "stubhub")  # the API marketplaces; pages in browser
    # the sandbox spreads an event's listings over the marketplaces; on these three about
    # 87 % of them are (measured): size the world so the crawl serves about --listings
    events = max(1, round(args.listings / (args.listings_per_event * 0.87)))
    workload = {"events": events, "listings_per_event": args.listings_per_event,
                "spiders": list(spiders), "workers": args.workers, "writers": args.writers,
                "scorers": args.scorers, "chunk_rows": args.chunk_rows,
                "max_inflight_batches": args.inflight, "faults": args.faults,
                "events_per_shard": args.events_per_shard,
                "shards": "events of unknown size events_per_shard a shard; of known size "
                          "(crawled before, or counted by discovery) filled up to chunk_rows "
                          "listings, at most max_events_per_shard events",
                "max_events_per_shard": EngineOptions().max_events_per_shard,
                "first_crawl": "a new install (empty database and data directory: no "
                               "deal model yet): every listing new, one snapshot + one "
                               "listings_current row each, all scored",
                "recrawl": (f"sandbox clock +{args.recrawl_hours:g} h, every event again: "
                            "only moved prices / new listings write snapshots, sold ones "
                            "are marked gone, all scored") if args.recrawl_hours else None,
                "cpus": os.cpu_count()}
    if args.nodes <= 1:
        out = {**_measure(args, spiders, events), "workload": workload}
        emit(out)
        return out
    from bench.cluster import LocalRayCluster

    one = _measure(args, spiders, events)
    shape = cluster_shape(args.nodes, args.writers, args.workers)
    # each node advertises the CPUs of this machine, not the cloud type's (bookkeeping only)
    try:
        # the nodes' actors start from a new install too (they keep the data dir they
        # were started with)
        with fresh_data_dir(), \
                LocalRayCluster(shape, cpus=float(os.cpu_count() or 2)) as cluster:
            many = _measure(args, spiders, events, ray_address=cluster.address)
    except Exception as err:  # the one-node figures stand; say why there is no ratio
        many = {"error": f"{type(err).__name__}: {' '.join(str(err).split())[-400:]}",
                "listings_per_s": 0, "recrawl": None}
    rate = one["listings_per_s"] or 0
    out = {
        "nodes": args.nodes, "one_node": one, "cluster": many,
        "cluster_nodes": {"ripcity.head": 1, **shape},
        "listings_per_s_ratio": round(many["listings_per_s"] / rate, 3)
        if rate and "error" not in many else None,
        "recrawl_ratio": round(many["recrawl"]["listings_per_s"]
                               / one["recrawl"]["listings_per_s"], 3)
        if one.get("recrawl") and many.get("recrawl") and one["recrawl"]["listings_per_s"]
        else None,
        "workload": {**workload, "compare": "one node = local Ray (the laptop set-up); "
                     f"cluster = head + {sum(shape.values())} worker nodes started with "
                     "`ray start` "
                     "on this same machine (the same cores: the ratio is the cost of "
                     "spreading actors over raylets, not a speed-up)"},
    }
    emit(out)
    return out


def failures(out: dict[str, Any], where: str = "") -> list[str]:
    """What went wrong in a run's output: each of ``MUST_BE_ZERO`` that is not, per crawl
    (and per set-up with ``--nodes``: one node, then the cluster)."""
    if "one_node" in out:
        return failures(out["one_node"], "one node: ") + failures(out["cluster"], "cluster: ")
    bad = [f"{where}error {out['error']}"] if out.get("error") else []
    bad += [f"{where}{k}={out.get(k)}" for k in MUST_BE_ZERO if out.get(k)]
    recrawl = out.get("recrawl") or {}
    bad += [f"{where}recrawl {k}={recrawl.get(k)}" for k in MUST_BE_ZERO if recrawl.get(k)]
    return bad


if __name__ == "__main__":
    result = main()
    if problems := failures(result):
        print(f"bench.pipeline FAILED: {', '.join(problems)} (all must be 0)", file=sys.stderr)
        sys.exit(1)
    sys.exit(0 if result else 1)
