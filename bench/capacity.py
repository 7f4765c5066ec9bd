"""Sizing computed from the benchmarks' measured unit costs, not estimated.

    python -m bench.capacity [--results bench/results] [--json]

Reads the JSON the benchmarks printed (``make bench`` writes them to ``bench/results/``:
``pipeline.json`` from ``bench.pipeline``, ``api.json`` from ``bench.api``, ``alerts.json``
from ``bench.alerts``), turns them into unit costs (CPU per listing crawled / written /
scored / stored, CPU per cached and uncached API request in the API process, in PostgreSQL
and in Redis, alerts per dispatcher-second), and prints, for a stated load, the nodes of each
``ray_cluster.yaml`` type, API processes, database cores and read replicas, Redis and alert
dispatchers needed; then the same for ten times the load, and which component saturates
first (the one that cannot be scaled out by adding another of it). The default load is
1,000,000 live listings re-crawled hourly at peak cadence, 100,000 concurrent users and
10,000 alerts a minute. README's sizing section is this script's output (a test checks).

Every figure is ``ceil(load x unit cost / (cores per unit x target utilisation))``; what
was assumed rather than measured is listed as such.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from bench.cluster import node_types
from bench.harness import arguments

RESULTS = Path(__file__).resolve().parent / "results"

#: what replaces the Redis assumptions when it was measured
_REDIS_ASSUMED = ("redis_ops_per_request", "redis_ops_per_s")

#: assumptions (not measured by a benchmark here), stated in the output
ASSUMED = {
    "requests_per_user_s": 0.1,  # one request every 10 s per active user
    "cached_share": 0.9,  # public reads answered from the shared response cache
    "write_share": 0.01,  # account / watchlist / rule writes, on the primary
    # used only when bench.api measured no Redis CPU per request:
    "redis_ops_per_request": 3,  # rate-limit INCR + EXPIRE, cache GET
    "redis_ops_per_s": 100_000,  # one single-threaded Redis instance
    "utilisation": 0.6,  # target busy share of every core (headroom for peaks, a lost node)
    "replica_cores": 8,
    "api_cores_per_host": 2,
    "max_primary_cores": 64,  # the largest primary worth running before sharding
}


@dataclasses.dataclass(frozen=True, slots=True)
class Load:
    name: str
    listings: int  # live listings, each re-crawled once an hour at peak
    users: int  # concurrent users
    alerts_per_min: int

    @property
    def listings_per_s(self) -> float:
        return self.listings / 3600

    @property
    def requests_per_s(self) -> float:
        return self.users * ASSUMED["requests_per_user_s"]

    def times(self, k: int) -> Load:
        return Load(f"{k}x", self.listings * k, self.users * k, self.alerts_per_min * k)


DEFAULT = Load("default", 1_000_000, 100_000, 10_000)


# --- unit costs ---------------------------------------------------------------------------

def _load_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    lines = [ln for ln in path.read_text().splitlines() if ln.strip().startswith("{")]
    return json.loads(lines[-1]) if lines else None


def unit_costs(results: Path = RESULTS) -> dict[str, Any]:
    """CPU microseconds / milliseconds per unit of work, from the benchmarks' JSON."""
    costs: dict[str, Any] = {"sources": {}}
    pipeline = _load_json(results / "pipeline.json")
    if pipeline is None:
        raise SystemExit(f"no {results / 'pipeline.json'}: run `make bench` (or python -m "
                         "bench.pipeline > bench/results/pipeline.json) first")
    run = pipeline.get("one_node", pipeline)
    steady = run.get("recrawl") or run  # hourly re-crawls are the steady state
    listings = steady["listings"]
    cpu = steady["cpu_s"]

    def per_listing(*roles: str) -> float:
        return sum(cpu.get(r, 0.0) for r in roles) / listings * 1e6  # µs

    overhead = per_listing("ray_system") / 3  # raylets and workers on every node type
    costs["crawl_us_per_listing"] = round(per_listing("crawl_workers") + overhead, 1)
    costs["ingest_us_per_listing"] = round(
        per_listing("writers", "scorers", "change_relay") + overhead, 1)
    costs["head_us_per_listing"] = round(per_listing("coordinator", "driver") + overhead, 1)
    costs["coordinator_us_per_listing"] = round(per_listing("coordinator"), 2)
    costs["db_us_per_listing"] = round(per_listing("postgres"), 1)
    costs["sources"]["pipeline"] = (
        f"bench.pipeline re-crawl of {listings:,} listings "
        f"({steady.get('listings_per_s', 0):,}/s on one node)")
    if "listings_per_s_ratio" in pipeline:
        costs["cluster_vs_one_node"] = pipeline["listings_per_s_ratio"]

    api = _load_json(results / "api.json")
    if api is None:
        raise SystemExit(f"no {results / 'api.json'}: run `make bench` first")
    one = api.get("one_process", api)
    endpoints = one["endpoints"]
    cached = [e for k, e in endpoints.items() if k.endswith("_cached")]
    uncached = [e for k, e in endpoints.items() if k.endswith("_uncached")]

    def mean(rows: list[dict[str, Any]], key: str, fallback: float = 0.0) -> float:
        values = [r[key] for r in rows if r.get(key) is not None]
        return sum(values) / len(values) if values else fallback

    # without a CPU measurement, one process is one core busy at the measured rps
    costs["api_cached_ms"] = round(mean(cached, "api_cpu_ms",
                                        1e3 / max(1.0, mean(cached, "rps", 1.0))), 3)
    costs["api_uncached_ms"] = round(mean(uncached, "api_cpu_ms",
                                          1e3 / max(1.0, mean(uncached, "rps", 1.0))), 3)
    costs["db_uncached_ms"] = round(mean(uncached, "db_cpu_ms", 2.5), 3)
    if any(e.get("redis_cpu_ms") for e in cached):  # Redis is one core: what it takes
        costs["redis_cached_ms"] = round(mean(cached, "redis_cpu_ms"), 3)
        costs["redis_uncached_ms"] = round(mean(uncached, "redis_cpu_ms"), 3)
    quota = one.get("cpu_quota_cores_per_process")
    costs["sources"]["api"] = (
        f"bench.api, {one['data'].get('listings', 0):,} listings, {one['load_generator']}, "
        f"{len(cached)} cached and {len(uncached)} uncached endpoints"
        + (f", each API process under a {quota} core CPU quota" if quota else ""))
    if api.get("scaling"):
        costs["api_processes_scaling"] = api["scaling"]
        costs["api_processes_note"] = api_processes_note(api)
    elif api.get("cores"):
        c = api["cores"]
        costs["api_processes_note"] = (
            f"{api['processes']} API processes' scaling not measured on this machine (a fair "
            f"run needs {c['needed']} cores with the load generator, it has {c['available']}); "
            "API processes are sized from CPU per request")

    alerts = _load_json(results / "alerts.json")
    if alerts is not None and alerts.get("matches_per_s"):
        dispatchers = alerts.get("dispatchers") or 2
        costs["alerts_per_dispatcher_s"] = round(alerts["matches_per_s"] / dispatchers)
        costs["sources"]["alerts"] = (f"bench.alerts: {alerts['matches_per_s']:,} alerts/s "
                                      f"on {dispatchers} dispatchers, p99 "
                                      f"{alerts.get('p99_ms')} ms (a lower bound: the "
                                      "benchmark drives a rate, not the dispatchers' limit)")
    else:
        costs["alerts_per_dispatcher_s"] = None
    return costs


def api_processes_note(api: dict[str, Any]) -> str:
    """What ``bench.api --processes N`` measured: N processes' rps over one process's, the
    mean of the cached and of the uncached endpoints (older runs: per endpoint)."""
    scaling = api["scaling"]
    kinds = [k for k in ("cached", "uncached") if scaling.get(k) is not None]
    quota = api.get("cpu_quota_cores_per_process")
    what = (f"{scaling[kinds[0]]}x one process's rps on {kinds[0]}"
            + "".join(f" and {scaling[k]}x on {k}" for k in kinds[1:]) + " endpoints"
            if kinds else
            f"{min(scaling.values())}-{max(scaling.values())}x one process's rps")
    held = sorted(api.get("scaling_held_back") or {})
    return (f"{api['processes']} API processes"
            + (f", each under a {quota} core CPU quota," if quota else "")
            + f" served {what} (same run)"
            + (f"; on {', '.join(held)} the {api['processes']} processes stayed under their "
               "quotas: what they share (PostgreSQL, Redis, the machine) held them back"
               if held else "")
            + "; API processes are sized from CPU per request")


def assumed(costs: dict[str, Any]) -> dict[str, Any]:
    """The assumptions the sizing used (the Redis ones only when Redis was not measured)."""
    measured = costs.get("redis_cached_ms") is not None
    return {k: v for k, v in ASSUMED.items() if not (measured and k in _REDIS_ASSUMED)}


# --- sizing -------------------------------------------------------------------------------

def size(load: Load, costs: dict[str, Any]) -> dict[str, Any]:
    u = ASSUMED["utilisation"]
    types = node_types()

    def cores(seconds_per_s: float) -> float:
        return seconds_per_s / u

    def nodes(node_type: str, busy: float) -> int:
        return max(1, math.ceil(cores(busy) / types[node_type].get("CPU", 4)))

    lps = load.listings_per_s
    rps = load.requests_per_s
    cached_rps = rps * ASSUMED["cached_share"]
    uncached_rps = rps - cached_rps
    api_busy = (cached_rps * costs["api_cached_ms"] + uncached_rps * costs["api_uncached_ms"]
                ) / 1e3
    api_processes = max(2, math.ceil(cores(api_busy)))
    write_rps = rps * ASSUMED["write_share"]  # part of the uncached share, on the primary
    read_db = cores((uncached_rps - write_rps) * costs["db_uncached_ms"] / 1e3)
    write_db = cores(write_rps * costs["db_uncached_ms"] / 1e3)
    ingest_db = cores(lps * costs["db_us_per_listing"] / 1e6)
    primary = max(2, math.ceil(ingest_db + write_db))
    replicas = math.ceil(read_db / ASSUMED["replica_cores"]) if read_db > 0 else 0
    if costs.get("redis_cached_ms") is not None:  # measured: one Redis is one core
        redis_busy = (cached_rps * costs["redis_cached_ms"]
                      + uncached_rps * costs["redis_uncached_ms"]) / 1e3
    else:
        redis_busy = rps * ASSUMED["redis_ops_per_request"] / ASSUMED["redis_ops_per_s"]
    alerts_s = load.alerts_per_min / 60
    per_dispatcher = costs.get("alerts_per_dispatcher_s")
    return {
        "load": load.name, "listings_per_s": round(lps), "requests_per_s": round(rps),
        "alerts_per_s": round(alerts_s),
        "crawl_nodes": nodes("ripcity.crawl", lps * costs["crawl_us_per_listing"] / 1e6),
        "ingest_nodes": nodes("ripcity.ingest", lps * costs["ingest_us_per_listing"] / 1e6),
        "head_nodes": 1,
        "api_processes": api_processes,
        "api_hosts": math.ceil(api_processes / ASSUMED["api_cores_per_host"]),
        "db_primary_cores": primary,
        "read_replicas": replicas, "replica_cores": ASSUMED["replica_cores"],
        "redis_instances": max(1, math.ceil(cores(redis_busy))),
        "alert_dispatchers": (max(1, math.ceil(alerts_s / (per_dispatcher * u)))
                              if per_dispatcher else None),
        # single-instance limits: how many times this load each could take
        "headroom": {
            "database primary (ingest + writes, LISTEN)":
                ASSUMED["max_primary_cores"] / max(1e-9, ingest_db + write_db),
            "one Redis (limits + cache)": u / max(1e-9, redis_busy),
            "the crawl coordinator (one actor, one core)":
                u / max(1e-9, lps * costs["coordinator_us_per_listing"] / 1e6),
        },
    }


def report(loads: list[Load], costs: dict[str, Any]) -> str:
    rows = [size(load, costs) for load in loads]
    out = ["| load | listings/s | API rps | alerts/s | crawl nodes | ingest nodes | head "
           "| API processes (hosts) | DB primary cores | read replicas | Redis | alert "
           "dispatchers |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for load, r in zip(loads, rows, strict=True):
        what = (f"{load.name}: {load.listings:,} listings hourly, {load.users:,} users, "
                f"{load.alerts_per_min:,} alerts/min")
        out.append(
            f"| {what} | {r['listings_per_s']:,} | {r['requests_per_s']:,} "
            f"| {r['alerts_per_s']:,} | {r['crawl_nodes']} | {r['ingest_nodes']} "
            f"| {r['head_nodes']} | {r['api_processes']} ({r['api_hosts']}) "
            f"| {r['db_primary_cores']} | {r['read_replicas']} x {r['replica_cores']} cores "
            f"| {r['redis_instances']} | {r['alert_dispatchers'] or 'not measured'} |")
    base = rows[0]["headroom"]
    first = min(base, key=base.get)  # type: ignore[arg-type]
    out += ["", "Unit costs (measured, CPU per unit of work): "
            f"crawl {costs['crawl_us_per_listing']} µs/listing, ingest + scoring "
            f"{costs['ingest_us_per_listing']} µs/listing, head {costs['head_us_per_listing']}"
            f" µs/listing, PostgreSQL {costs['db_us_per_listing']} µs/listing written; API "
            f"{costs['api_cached_ms']} ms per cached and {costs['api_uncached_ms']} ms per "
            f"uncached request, PostgreSQL {costs['db_uncached_ms']} ms per uncached request"
            + (f", Redis {costs['redis_cached_ms']} ms per cached and "
               f"{costs['redis_uncached_ms']} ms per uncached request"
               if costs.get("redis_cached_ms") is not None else "")
            + (f"; {costs['alerts_per_dispatcher_s']:,} alerts/s per dispatcher"
               if costs.get("alerts_per_dispatcher_s") else "") + ".",
            "Sources: " + "; ".join(costs["sources"].values())
            + (f"; the same pipeline on a multi-node cluster (bench.cluster, same machine) ran "
               f"at {costs['cluster_vs_one_node']}x the one-node rate"
               if costs.get("cluster_vs_one_node") else "")
            + (f"; {costs['api_processes_note']}" if costs.get("api_processes_note") else "")
            + ".",
            "Assumed (not measured here): " + ", ".join(
                f"{k.replace('_', ' ')} {v:,}" for k, v in assumed(costs).items()) + ".",
            f"Saturates first: **{first}**, at {base[first]:.1f}x the {loads[0].name} load "
            "(single-instance limits: "
            f"{', '.join(f'{k} {v:.1f}x' for k, v in sorted(base.items(), key=lambda i: i[1]))}"
            "); past it that part must be sharded (Redis Cluster, partitioned ingest), while "
            "everything else scales out by adding nodes, processes or replicas."]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> str:
    parser = arguments("bench.capacity", __doc__)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--listings", type=int, default=DEFAULT.listings)
    parser.add_argument("--users", type=int, default=DEFAULT.users)
    parser.add_argument("--alerts-per-min", type=int, default=DEFAULT.alerts_per_min)
    parser.add_argument("--json", action="store_true", help="the sizing as one JSON object")
    args = parser.parse_args(argv)
    load = Load("default", args.listings, args.users, args.alerts_per_min)
    costs = unit_costs(args.results)
    if args.json:
        text = json.dumps({"unit_costs": costs, "assumed": assumed(costs),
                           "sizing": [size(x, costs) for x in (load, load.times(10))]})
    else:
        text = report([load, load.times(10)], costs)
    print(text)
    return text


if __name__ == "__main__":
    main()
