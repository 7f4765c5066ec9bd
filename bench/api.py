"""API throughput and latency over loopback, against a bare Litestar "hello" endpoint.

    python -m bench.api [--events 240] [--per-event 1000] [--connections 64] [--duration 8]

Fills a fresh database from the sandbox's generative model (``sandbox``: its world
of events and its listing model, observed at three clock ticks an hour apart and written
through ``storage.ingest.write_snapshots``), starts the API with uvicorn in a subprocess,
and drives it with ``wrk`` (Debian package; an asyncio/httpx load generator in another
process when wrk is missing) at ``--connections`` keep-alive clients. Prints one JSON
object: ``rps``, ``p50_ms``, ``p99_ms`` and error counts per endpoint, and the same for a
bare Litestar hello endpoint served the same way (``baseline_rps``; ``ratio`` = a cached
endpoint's rps / baseline rps). "Uncached" endpoints vary a query value per request, so
every request misses the response cache and runs its SQL.

The ratios are refused (``ratio``: null, ``ratios_refused`` says why) when the load
generator cannot outrun the server: without wrk, or when the bare baseline server was less
than 80 % busy (CPU per process) under its load. ``--processes N`` measures every endpoint on
1 API process and on N (uvicorn workers, as ``ripcity serve --workers N`` runs them) in the
same run, each deployment on a private Redis of its own (``redis-server`` on a free port:
limits and cache as in production); both run side by side and each endpoint is loaded on
one and right after on the other (alternating which first), so a shared machine's drift
falls on both alike. It prints ``scaling_by_endpoint`` = N-process rps / 1-process rps per
endpoint and ``scaling``, their mean over the cached and over the uncached endpoints.

CPU quotas: ``--cpu-quota CORES`` (default 0.4 with ``--processes N``, 0 for none) gives
every API server process (each uvicorn worker, the baseline's too) the same fixed CPU
budget with a cgroup CPU quota of its own (``bench.cpu_quota``: cgroup v2 ``cpu.max`` or v1
``cpu.cfs_quota_us``, removed afterwards). The 1-process run then has CORES and the
N-process run N x CORES, and the rest of the machine is left to wrk, PostgreSQL and Redis,
so on a small or shared machine the ratio shows what a second process adds, not who won
the cores. An endpoint's ratio counts only when its 1-process server was quota-bound (busy
at least 80 % of its quota: ``quota_busy``; ``throttled`` is the share of CFS periods in
which the quota stopped it); ``scaling`` is the mean ratio of the cached and of the
uncached endpoints. Without writable cgroups the run falls back to the rule below and the
JSON says why (``cpu_quota_refused``).

Cores: the load generator runs on this machine too. Without quotas, when there are cores
to spare (at least one more than the API processes) the servers and wrk are pinned apart
with ``taskset`` (wrk gets the spare cores, one thread each), so neither slows the other.
Every load reports what it cost: the server's, wrk's, PostgreSQL's and Redis's CPU per
request (ms; Redis's idle timers, measured while only the hello app is loaded, taken off),
how busy each server process was (``server_busy``, cores) and how busy the whole machine
was (other users of a shared box included). For ``--processes N`` the cores a fair
N-process run needs are computed from the 1-process run (N servers, each a full core or its
quota, plus N times the generator and the database and Redis per server core); when the
machine has fewer, ``scaling`` is null and ``scaling_refused`` and ``cores`` say so: N
processes sharing their cores with their own load generator would measure core
contention, not the API. The CPU per request is reported either way.

Uses a scratch database (``bench.harness.scratch_database``: RIPCITY_DATABASE_URL's server,
else 127.0.0.1:5432, else the embedded one), dropped afterwards unless ``--keep-db``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa

from bench.cpu_quota import CpuQuotas
from bench.harness import arguments, database_name, emit, free_port, scratch_database
from storage.records import LISTING_SCHEMA

_RESALE = ("ticketmaster", "seatgeek", "stubhub")


# --- the data -----------------------------------------------------------------------------

def _live_batch(live: Any, event: Any, source_id: str, at: datetime) -> pa.RecordBatch:
    from sandbox.market import DELIVERIES, SPLIT_RULES

    n = len(live)
    sections = event.seat_map.sections
    sec_names = np.array([s.name for s in sections], dtype=object)[live.section]
    zones = np.array([s.tier for s in sections], dtype=object)[live.section]
    rows = [None if r < 0 else sections[s].rows[r] for s, r in
            zip(live.section.tolist(), live.row.tolist(), strict=True)]
    splits = []
    for q, rule in zip(live.qty.tolist(), live.split.tolist(), strict=True):
        name = SPLIT_RULES[rule]
        if name == "all":
            splits.append(str(q))
        elif name == "pairs":
            splits.append(",".join(str(k) for k in range(2, q + 1, 2)) or str(q))
        elif name == "no_single":
            splits.append(",".join(str(k) for k in range(2, q + 1) if q - k != 1) or str(q))
        else:
            splits.append(None)
    return pa.RecordBatch.from_pydict({
        "observed_at": pa.array(np.full(n, int(at.timestamp() * 1e6)),
                                pa.timestamp("us", tz="UTC")),
        "marketplace": [live.marketplace] * n,
        "listing_id": [f"{live.marketplace[:2]}{event.index}-{s}" for s in live.slot.tolist()],
        "source_event_id": [source_id] * n,
        "section": sec_names.tolist(), "row": rows, "seats": [None] * n,
        "quantity": pa.array(live.qty, pa.int32()), "splits": splits,
        "price_cents": pa.array(live.price, pa.int64()),
        "fees_cents": pa.array(live.fees, pa.int64()),
        "total_cents": pa.array(live.total, pa.int64()),
        "currency": ["USD"] * n,
        "delivery": np.array(DELIVERIES, dtype=object)[live.delivery].tolist(),
        "kind": np.where(live.primary, "primary", "resale").tolist(),
        "zone": zones.tolist(),
    }, schema=LISTING_SCHEMA)


def fill(url: str, n_events: int, per_event: int, seed: int = 7) -> dict[str, int]:
    """Events, venues, sources and listings from the sandbox model; deal scores from its
    known fair values (the engine's scorer is measured elsewhere)."""
    from sandbox.market import ListingModel
    from sandbox.world import World
    from storage.ingest import write_snapshots

    world = World(seed, n_events)
    model = ListingModel(world, per_event)
    now = datetime.now(UTC).replace(microsecond=0)
    shift = now - world.events[0].start_dt + timedelta(days=2)  # all events ahead of now
    listings = 0
    fair_rows: list[tuple[str, str, int]] = []
    with psycopg.connect(url) as conn:
        venue_ids: dict[str, int] = {}
        event_ids: dict[int, int] = {}
        for e in world.events:
            v = e.venue
            if v.key not in venue_ids:
                venue_ids[v.key] = conn.execute(
                    "INSERT INTO venues (name, city, timezone) VALUES (%s, %s, %s) RETURNING id",
                    (v.name, v.city, v.timezone)).fetchone()[0]  # type: ignore[index]
            event_ids[e.index] = conn.execute(
                """INSERT INTO events (name, starts_at, venue_id, category, performers, status,
                   timezone) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (e.name, e.start_dt + shift, venue_ids[v.key], e.category,
                 list(e.performers), e.status, v.timezone)).fetchone()[0]  # type: ignore[index]
            for m, sid in e.ids.items():
                conn.execute(
                    """INSERT INTO event_sources (marketplace, source_event_id, event_id, url)
                       VALUES (%s, %s, %s, %s)""",
                    (m, sid, event_ids[e.index], f"https://{m}.example/event/{sid}"))
        conn.commit()
        for tick in range(3):  # three crawls an hour apart; simulated clock 8 h apart
            at = now - timedelta(hours=2 - tick)
            t = world.start + 86_400 * 20 + tick * 8 * 3600
            for e in world.events:
                batches = []
                for m in _RESALE:
                    if m not in e.ids:
                        continue
                    live = model.live(e, m, t)
                    if len(live):
                        batches.append(_live_batch(live, e, e.ids[m], at))
                        if tick == 2:
                            fair_rows.extend(zip(
                                [m] * len(live),
                                [f"{m[:2]}{e.index}-{s}" for s in live.slot.tolist()],
                                live.fair.astype(np.int64).tolist(), strict=True))
                if batches:
                    write_snapshots(conn, pa.Table.from_batches(batches), complete=True)
                    conn.commit()
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE fair (marketplace text, listing_id text, "
                        "fair bigint)")
            with cur.copy("COPY fair FROM STDIN") as cp:
                for row in fair_rows:
                    cp.write_row(row)
            cur.execute(
                """UPDATE listings_current c SET fair_value_cents = f.fair, model_version = 'bench',
                       deal_score = greatest(0, least(100,
                           50 + 100.0 * (f.fair - c.total_cents) / greatest(f.fair, 1))),
                       deal_reason = 'all-in price vs. the fair value of similar seats'
                   FROM fair f WHERE f.marketplace = c.marketplace
                     AND f.listing_id = c.listing_id""")
        conn.commit()
        listings = conn.execute(
            "SELECT count(*) FROM listings_current WHERE gone_at IS NULL").fetchone()[0]  # type: ignore[index]
        snapshots = conn.execute("SELECT count(*) FROM listing_snapshots").fetchone()[0]  # type: ignore[index]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        from storage.history import refresh_hourly_rollups  # the engine's job after ingest

        for (eid,) in conn.execute("SELECT id FROM events").fetchall():
            refresh_hourly_rollups(conn, eid, now - timedelta(hours=3), now)
    return {"events": len(world.events), "listings": int(listings),
            "snapshots": int(snapshots)}


# --- the servers ----------------------------------------------------------------------

@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A Redis of this run's own (``redis-server`` on a free loopback port, no persistence):
    nobody else's keys, nothing left behind. Raises when redis-server is not installed."""
    if not shutil.which("redis-server"):
        raise RuntimeError("redis-server is not installed (Debian: apt-get install "
                           "redis-server)")
    port, workdir = free_port(), tempfile.mkdtemp(prefix="ripcity-redis-")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True
                             ).stdout.strip() != b"PONG":
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def hello_app() -> Any:
    """The baseline: a bare Litestar app with one JSON endpoint."""
    from litestar import Litestar, get

    @get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return Litestar([hello])


def bench_app() -> Any:
    """The real API; limits scaled so one loopback address is never throttled."""
    from api.app import create_app

    return create_app(rate_limit_multiplier=1e6)


def available_cores() -> list[int]:
    """The CPUs this process may run on."""
    return sorted(os.sched_getaffinity(0))


def pinning(workers: int) -> tuple[list[int] | None, list[int] | None]:
    """(server CPUs, load-generator CPUs): apart when there is a core to spare for the
    generator, else (None, None): everything shares every core."""
    cores = available_cores()
    if len(cores) < workers + 1 or not shutil.which("taskset"):
        return None, None
    return cores[:workers], cores[workers:]


def _taskset(cpus: list[int] | None) -> list[str]:
    return ["taskset", "-c", ",".join(map(str, cpus))] if cpus else []


def _serve(factory: str, port: int, workers: int, env: dict[str, str],
           cpus: list[int] | None = None) -> subprocess.Popen[bytes]:
    cmd = [*_taskset(cpus), sys.executable, "-m", "uvicorn", factory, "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-access-log",
           "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz" if "bench_app" in factory
                         else f"http://127.0.0.1:{port}/hello", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{factory} exited with {proc.returncode} during startup")
        time.sleep(0.2)
    raise RuntimeError(f"{factory} did not answer within 60 s")


def _limit_servers(proc: subprocess.Popen[bytes], workers: int, quotas: CpuQuotas
                   ) -> list[Any]:
    """Each server process of ``proc`` in a quota group of its own (uvicorn itself with one
    worker; each worker, not the idle supervisor, with more); returns the groups."""
    import psutil

    if workers == 1:
        return [quotas.limit(proc.pid)]
    deadline = time.monotonic() + 60
    while True:
        kids = []
        for child in psutil.Process(proc.pid).children():
            with contextlib.suppress(psutil.Error):
                if "spawn_main" in " ".join(child.cmdline()):
                    kids.append(child)
        if len(kids) >= workers:
            return [quotas.limit(k.pid) for k in kids]
        if time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn started {len(kids)} of {workers} workers in 60 s")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


# --- the load -----------------------------------------------------------------------------

_LUA = """
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
local paths = {PATHS}
request = function()
  local p = paths[math.random(#paths)]
  p = p:gsub("RND", tostring(math.random(100000, 99999999)))
  return wrk.format("GET", p)
end
"""


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v


def _wrk(base: str, paths: list[str], connections: int, duration: int,
         cpus: list[int] | None = None) -> dict[str, Any]:
    lua = _LUA.replace("PATHS", ", ".join(json.dumps(p) for p in paths))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    threads = len(cpus) if cpus else min(2, len(available_cores()))
    try:
        out = subprocess.run(
            [*_taskset(cpus), "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
             "--latency", "-s", f.name, base],
            capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    finally:
        os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"rps": round(rps, 1), "p50_ms": round(_ms(lat.get("50", "")), 2),
            "p99_ms": round(_ms(lat.get("99", "")), 2),
            "non_2xx": int(bad.group(1)) if bad else 0,
            **({"socket_errors": errs.group(1).strip()} if errs else {})}


_PY_LOAD = r"""
import asyncio, json, random, sys, time
import httpx
base, paths, conns, dur = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
lat, bad = [], 0
async def worker(client, stop):
    global bad
    while time.monotonic() < stop:
        p = random.choice(paths).replace("RND", str(random.randint(100000, 99999999)))
        t = time.perf_counter()
        r = await client.get(p)
        lat.append(time.perf_counter() - t)
        bad += r.status_code >= 400
async def main():
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as c:
        stop = time.monotonic() + dur
        await asyncio.gather(*(worker(c, stop) for _ in range(conns)))
asyncio.run(main())
lat.sort()
print(json.dumps({"rps": round(len(lat) / dur, 1), "p50_ms": round(lat[len(lat)//2]*1e3, 2),
                  "p99_ms": round(lat[int(len(lat)*0.99)]*1e3, 2), "non_2xx": bad}))
"""


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the load generators it ran)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _box_busy() -> float:
    """CPU seconds the whole machine has been busy so far (every user of it)."""
    import psutil

    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def _load(base: str, paths: list[str], connections: int, duration: int,
          cpus: list[int] | None = None) -> dict[str, Any]:
    """Drive ``base`` and return the load's numbers, with ``generator_cores`` (the load
    generator's own CPU) and ``box_busy_cores`` (the whole machine's, others included)."""
    gen0, box0, wall0 = _children_cpu(), _box_busy(), time.monotonic()
    if shutil.which("wrk"):
        out = _wrk(base, paths, connections, duration, cpus)
    else:
        out = json.loads(subprocess.run(
            [*_taskset(cpus), sys.executable, "-c", _PY_LOAD, base, json.dumps(paths),
             str(connections), str(duration)], capture_output=True, text=True,
            check=True).stdout)
    wall = time.monotonic() - wall0
    out["generator_cores"] = round((_children_cpu() - gen0) / wall, 2)
    out["box_busy_cores"] = round((_box_busy() - box0) / wall, 2)
    return out


#: the baseline server must be this busy (share of one core, or of its CPU quota, per
#: process) for the load generator to count as outrunning it; below, ratios would measure
#: the generator. An endpoint's --processes ratio needs its 1-process server this busy too
SATURATED = 0.8
#: each API process's CPU quota (cores) with --processes N unless --cpu-quota says otherwise
DEFAULT_QUOTA = 0.4


def _tree_cpu(proc: subprocess.Popen[bytes]) -> float:
    """CPU seconds of ``proc`` and every process under it so far."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(proc.pid)
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
    except psutil.NoSuchProcess:
        pass
    return total


def _redis_cpu(redis_url: str | None) -> float:
    """CPU seconds so far of the redis-server serving ``redis_url`` (0 without one)."""
    import psutil

    if not redis_url:
        return 0.0
    port = redis_url.rsplit(":", 1)[-1].split("/", 1)[0]
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if (proc.info["name"] or "").startswith("redis-server") and \
                    f":{port}" in " ".join(proc.info["cmdline"] or []):
                t = proc.cpu_times()
                return t.user + t.system
        except psutil.Error:
            continue
    return 0.0


def _db_cpu(database: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to ``database``."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if (proc.info["name"] or "").startswith("postgres") and \
                    f" {database} " in " ".join(proc.info["cmdline"] or []):
                t = proc.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            continue
    return total


def main(argv: list[str] | None = None) -> None:
    ap = arguments("bench.api", __doc__)
    ap.add_argument("--events", type=int, default=240)
    ap.add_argument("--per-event", type=int, default=1000, help="sandbox listings per event")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--duration", type=int, default=8, help="seconds per endpoint")
    ap.add_argument("--workers", type=int, default=1, help="API processes")
    ap.add_argument("--processes", type=int, default=1,
                    help="N > 1: measure 1 API process and N (uvicorn workers, one private "
                         "Redis shared by them) in the same run, and their ratio")
    ap.add_argument("--cpu-quota", type=float, default=None, metavar="CORES",
                    help="CPU quota of every API server process, a cgroup each (default "
                         f"{DEFAULT_QUOTA} with --processes N > 1, none otherwise; 0: none)")
    ap.add_argument("--reuse-db", default=None,
                    help="database name filled by an earlier --keep-db run (skips the fill)")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database")
    args = ap.parse_args(argv)
    quota = args.cpu_quota if args.cpu_quota is not None else (
        DEFAULT_QUOTA if args.processes > 1 else 0.0)
    quotas = CpuQuotas.open(quota) if quota > 0 else None
    quota_refused = quotas if isinstance(quotas, str) else None
    quotas = None if isinstance(quotas, str) else quotas

    with scratch_database("ripcity_bench_api", reuse=args.reuse_db, keep=args.keep_db) as url, \
            quotas or contextlib.nullcontext():
        try:
            if args.processes > 1:
                emit(_scaling(args, url, quotas, quota_refused))
            else:
                procs: list[subprocess.Popen[bytes]] = []
                try:
                    emit({**_run(args, url, procs, quotas=quotas),
                          "cpu_quota_refused": quota_refused})
                finally:
                    for p in procs:
                        _stop(p)
        finally:
            if args.keep_db:
                print(f"kept database {database_name(url)}", file=sys.stderr)


def _scaling(args: Any, url: str, quotas: CpuQuotas | None,
             quota_refused: str | None) -> dict[str, Any]:
    """The same endpoints on 1 API process and on ``--processes`` N, one Redis for each.
    Both deployments run side by side and each endpoint is loaded on one, then at once on
    the other (which goes first alternates), so a shared machine's drift over the run
    falls on both alike instead of on one half of it."""
    load_before = os.getloadavg()[0]
    data = _data(args, url)
    cached, uncached = _paths(url)
    database = database_name(url)
    counts = (1, args.processes)
    procs: list[subprocess.Popen[bytes]] = []
    with private_redis() as redis_one, private_redis() as redis_many:
        try:
            sets = {n: _start(n, url, redis, quotas, procs)
                    for n, redis in zip(counts, (redis_one, redis_many), strict=True)}
            baselines = {n: _baseline(sets[n], args) for n in counts}
            results: dict[int, dict[str, Any]] = {n: {} for n in counts}
            for i, (label, paths) in enumerate([*cached.items(), *uncached.items()]):
                for n in counts if i % 2 == 0 else counts[::-1]:
                    results[n][label] = _measure(sets[n], paths, label in cached, args,
                                                 database)
            runs = {n: _report(sets[n], args, data, baselines[n], results[n], cached)
                    for n in counts}
        finally:
            for p in procs:
                _stop(p)
    one, many = runs[1], runs[args.processes]
    quota = quotas.cores if quotas else None
    verdict = scaling_verdict(one, many, args.processes, quota)
    loads = [x for r in (one, many) for x in (r["baseline"], *r["endpoints"].values())]
    return {
        "benchmark": "api-processes", "processes": args.processes,
        "load_generator": one["load_generator"],
        "cpu_quota_cores_per_process": quota,
        "cpu_quota_cgroup": f"v{quotas.version}" if quotas else None,
        "cpu_quota_refused": quota_refused,
        **verdict,
        "quota_busy": {label: [e.get("quota_busy"),
                               many["endpoints"].get(label, {}).get("quota_busy")]
                       for label, e in one["endpoints"].items()} if quota else None,
        "machine": {"cores": len(available_cores()),
                    "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
                    "busy_cores_mean": round(statistics.fmean(
                        x["box_busy_cores"] for x in loads), 2)},
        "workload": {"data": one["data"], "connections": args.connections,
                     "duration_s_per_endpoint": args.duration,
                     "servers": "uvicorn with 1 worker and with N workers (the processes "
                                "`ripcity serve --workers N` runs), side by side, each on "
                                "a private Redis (limits, cache), one database; each "
                                "endpoint loaded on one, then on the other (alternating "
                                "which first)"
                                + (f", each worker under a CPU quota of {quota} core"
                                   if quota else ""),
                     "cpus": os.cpu_count()},
        "one_process": one, "n_processes": many,
    }


def scaling_verdict(one: dict[str, Any], many: dict[str, Any], processes: int,
                    quota: float | None = None, available: int | None = None
                    ) -> dict[str, Any]:
    """N-process rps / 1-process rps per endpoint, their mean over the cached and over the
    uncached endpoints (``scaling``), or why not (``scaling_refused``): no wrk, fewer cores
    than a fair run needs, or (with a ``quota``) no endpoint whose 1-process server was
    held by its quota; endpoints whose server was not are left out (``scaling_skipped``).
    ``scaling_held_back`` names the endpoints whose N processes stayed under their quotas:
    what they share (PostgreSQL, Redis, the machine) limited them, not their CPU."""
    cores = cores_needed(one, processes, quota, available)
    refused: str | None = None
    if one["load_generator"] != "wrk":
        refused = one.get("ratios_refused") or "no wrk"
    elif quota is None and (one.get("ratios_refused") or many.get("ratios_refused")):
        refused = one.get("ratios_refused") or many.get("ratios_refused")
    elif cores["needed"] > cores["available"]:
        each = f"a {quota} core quota each" if quota else "a core each"
        refused = (f"{processes} API processes need {cores['needed']:.1f} cores to be "
                   f"measured fairly ({cores['servers']:g} for the servers, {each}; "
                   f"{cores['load_generator']:.1f} for the load generator, "
                   f"{cores['database_and_redis']:.1f} for PostgreSQL and Redis) and this "
                   f"machine has {cores['available']}: the load generator shares the servers' "
                   "cores, so a ratio would measure core contention, not the API ("
                   + ("a smaller --cpu-quota fits; " if quota else
                      "a CPU quota per process fits (--cpu-quota, needs writable cgroups); ")
                   + "or run wrk from another host, or on a machine with more cores)")
    ratios: dict[str, float] = {}
    skipped: dict[str, str] = {}
    held_back: dict[str, str] = {}
    for label, e in one["endpoints"].items():
        if not e.get("rps"):
            continue
        n_busy = many["endpoints"].get(label, {}).get("server_busy")
        if quota and n_busy is not None and n_busy / quota < SATURATED:
            n = many["endpoints"][label]
            held_back[label] = (f"{processes} processes used {n_busy / quota:.0%} of their "
                                f"quotas (PostgreSQL {n.get('db_cpu_ms', 0)} ms per request, "
                                f"the machine {n.get('box_busy_cores')} cores busy)")
        if quota:
            held = e.get("server_busy", 0.0) / quota
            if held < SATURATED:
                skipped[label] = (f"1 process used {held:.0%} of its {quota} core quota "
                                  f"(< {SATURATED:.0%}): the quota did not limit it")
                continue
        ratios[label] = round(many["endpoints"].get(label, {}).get("rps", 0.0) / e["rps"], 3)
    scaling: dict[str, float | None] | None = None
    if refused is None:
        scaling = {}
        for kind in ("cached", "uncached"):
            mine = [r for label, r in ratios.items() if label.endswith(f"_{kind}")]
            scaling[kind] = round(statistics.fmean(mine), 3) if mine else None
        if not ratios:
            scaling, refused = None, ("no endpoint's 1-process server was held by its CPU "
                                      "quota: the ratio would not measure API capacity")
    return {"scaling": scaling, "scaling_refused": refused,
            "scaling_by_endpoint": ratios if scaling else None,
            "scaling_skipped": skipped or None, "scaling_held_back": held_back or None,
            "cores": cores}


def cores_needed(one: dict[str, Any], processes: int, quota: float | None = None,
                 available: int | None = None) -> dict[str, Any]:
    """The cores a fair ``processes``-process run needs, from the 1-process run's cached
    endpoints: each server a full core (or its CPU ``quota``), and per server core what the
    load generator and PostgreSQL + Redis spent to keep it busy."""
    cached = [e for e in one["endpoints"].values()
              if "ratio" in e and e.get("api_cpu_ms") and e.get("rps")]
    server = sum(e["api_cpu_ms"] * e["rps"] for e in cached) / 1e3 or 1.0
    generator = sum(e.get("generator_cores", 0.0) for e in cached) / server
    backing = sum((e.get("db_cpu_ms", 0.0) + e.get("redis_cpu_ms", 0.0)) * e["rps"]
                  for e in cached) / 1e3 / server
    servers = processes * (quota or 1.0)
    return {"available": available or len(available_cores()), "servers": round(servers, 2),
            "load_generator": round(servers * generator, 2),
            "database_and_redis": round(servers * backing, 2),
            "needed": round(servers * (1 + generator + backing), 2),
            "basis": "per busy server core in the 1-process run's cached endpoints"}


def _throttled(quotas: CpuQuotas | None, groups: list[Any],
               before: tuple[int, int]) -> dict[str, float]:
    """``throttled``: the share of CFS periods since ``before`` in which the quota stopped
    the servers in ``groups`` (nothing without quotas)."""
    if not quotas:
        return {}
    periods, throttled = quotas.throttling(groups)
    periods -= before[0]
    return {"throttled": round((throttled - before[1]) / periods, 2) if periods else 0.0}


def _data(args: Any, url: str) -> dict[str, Any]:
    """Fill the database (or count what an earlier run filled)."""
    t0 = time.monotonic()
    if args.reuse_db:
        with psycopg.connect(url) as conn:
            return {"events": conn.execute("SELECT count(*) FROM events").fetchone()[0],  # type: ignore[index]
                    "listings": conn.execute("SELECT count(*) FROM listings_current "
                                             "WHERE gone_at IS NULL").fetchone()[0]}  # type: ignore[index]
    data = fill(url, args.events, args.per_event)
    data["fill_s"] = round(time.monotonic() - t0, 1)
    return data


def _paths(url: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The endpoints loaded: (cached, uncached), each a label's request paths."""
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]
    some = ids[:: max(1, len(ids) // 40)][:40]
    v1 = "/api/v1"
    cached = {
        "events_search_cached": [f"{v1}/events?limit=20", f"{v1}/events?sort=price&limit=20",
                                 f"{v1}/events?q=Blazers&limit=20"],
        "event_detail_cached": [f"{v1}/events/{i}" for i in some],
        "listings_cached": [f"{v1}/events/{i}/listings?limit=50" for i in some],
        "deals_cached": [f"{v1}/deals?limit=20"],
    }
    uncached = {
        "listings_uncached": [f"{v1}/events/{i}/listings?limit=50&max_price=RND"
                              for i in some],
        "listings_filtered_uncached": [
            f"{v1}/events/{i}/listings?limit=50&quantity=2&sort=deal&max_price=RND"
            for i in some],
        "history_uncached": [f"{v1}/events/{i}/history?bucket=1h&nocache=RND"
                             for i in some],
        "history_section_uncached": [
            f"{v1}/events/{i}/history?bucket=5m&merged=true&section=101&nocache=RND"
            for i in some],
        "event_detail_uncached": [f"{v1}/events/{i}?nocache=RND" for i in some],
    }
    return cached, uncached


@dataclasses.dataclass(slots=True)
class _Servers:
    """One deployment under test: the hello baseline and the real API, ``workers``
    processes each (each under a CPU quota of its own with ``quotas``), on one Redis."""

    workers: int
    redis_url: str | None
    quotas: CpuQuotas | None
    procs: list[subprocess.Popen[bytes]]  # hello, api
    ports: list[int]  # theirs
    groups: list[list[Any]]  # their quota groups
    server_cpus: list[int] | None
    load_cpus: list[int] | None
    redis_idle: float = 0.0  # cores Redis spends with no request (its own timers)

    @property
    def limit(self) -> float:
        """The CPU each server process may use (cores)."""
        return self.quotas.cores if self.quotas else 1.0

    def url(self, which: int) -> str:
        return f"http://127.0.0.1:{self.ports[which]}"

    def throttling(self, which: int) -> tuple[int, int]:
        return self.quotas.throttling(self.groups[which]) if self.quotas else (0, 0)


def _start(workers: int, url: str, redis_url: str | None, quotas: CpuQuotas | None,
           procs: list[subprocess.Popen[bytes]]) -> _Servers:
    """Serve the hello app and the API with ``workers`` processes each (into ``procs``,
    for the caller to stop), each server process under its own quota with ``quotas``."""
    env = {**os.environ, "RIPCITY_DATABASE_URL": url, "RIPCITY_LOG_LEVEL": "WARNING",
           "PYTHONPATH": os.getcwd()}
    env.pop("RIPCITY_REDIS_URL", None)
    if redis_url:
        env["RIPCITY_REDIS_URL"] = redis_url
    # with quotas nothing is pinned, so 1 and N processes run on the same cores
    server_cpus, load_cpus = (None, None) if quotas else pinning(workers)
    mine: list[subprocess.Popen[bytes]] = []
    ports = [free_port(), free_port()]
    for factory, port in zip(("bench.api:hello_app", "bench.api:bench_app"), ports,
                             strict=True):
        mine.append(_serve(factory, port, workers, env, server_cpus))
        procs.append(mine[-1])
    groups = [_limit_servers(p, workers, quotas) for p in mine] if quotas else [[], []]
    return _Servers(workers, redis_url, quotas, mine, ports, groups, server_cpus, load_cpus)


def _baseline(s: _Servers, args: Any) -> dict[str, Any]:
    """Load the hello app: its numbers (``base``), how busy its server processes were
    (``busy``, cores each) and why ratios to it would not count (``refused``)."""
    cpu0, redis0, wall0 = _tree_cpu(s.procs[0]), _redis_cpu(s.redis_url), time.monotonic()
    throttle0 = s.throttling(0)
    base = _load(s.url(0), ["/hello"], args.connections, args.duration, s.load_cpus)
    wall = time.monotonic() - wall0
    busy = (_tree_cpu(s.procs[0]) - cpu0) / wall / s.workers
    base.update(_throttled(s.quotas, s.groups[0], throttle0))
    # Redis's own timers cost CPU with no request at all (the hello app never uses it):
    # taken off each endpoint's Redis CPU, so a slow endpoint is not billed for them
    s.redis_idle = (_redis_cpu(s.redis_url) - redis0) / wall
    if base["rps"]:
        base["server_cpu_ms"] = round(busy * s.workers / base["rps"] * 1e3, 3)
        base["generator_cpu_ms"] = round(base["generator_cores"] / base["rps"] * 1e3, 3)
    refused = None
    if not shutil.which("wrk"):
        refused = ("no wrk: the httpx load generator cannot outrun the server (`make bench` "
                   "installs Debian's wrk)")
    elif busy < SATURATED * s.limit:
        cores = len(available_cores())
        others = base["box_busy_cores"] - busy * s.workers - base["generator_cores"]
        contended = base["box_busy_cores"] >= 0.9 * cores
        quota_note = f" of its {s.limit} core quota" if s.quotas else ""
        refused = (f"the load generator kept the baseline server only {busy / s.limit:.0%} "
                   f"busy{quota_note} per process (< {SATURATED:.0%}): the ratios would "
                   "measure "
                   + (f"core contention: the machine's {cores} cores were "
                      f"{base['box_busy_cores'] / cores:.0%} busy (wrk "
                      f"{base['generator_cores']:.2f} cores, other processes {others:.2f})"
                      if contended else "the generator"))
    return {"base": base, "busy": busy, "refused": refused}


def _measure(s: _Servers, paths: list[str], warm: bool, args: Any,
             database: str) -> dict[str, Any]:
    """Load one endpoint of the API (its cache warmed first when ``warm``): its numbers,
    how busy the server processes were, and CPU per request of each party."""
    if warm:
        _load(s.url(1), paths, args.connections, 2, s.load_cpus)
    api0, db0, redis0 = _tree_cpu(s.procs[1]), _db_cpu(database), _redis_cpu(s.redis_url)
    throttle0 = s.throttling(1)
    wall0 = time.monotonic()
    out = _load(s.url(1), paths, args.connections, args.duration, s.load_cpus)
    wall = time.monotonic() - wall0
    api_s = _tree_cpu(s.procs[1]) - api0
    redis_s = max(0.0, _redis_cpu(s.redis_url) - redis0 - s.redis_idle * wall)
    out["server_busy"] = round(api_s / wall / s.workers, 3)
    if s.quotas:
        out["quota_busy"] = round(api_s / wall / s.workers / s.limit, 2)
        out.update(_throttled(s.quotas, s.groups[1], throttle0))
    served = out["rps"] * args.duration
    if served:  # CPU per request: what the capacity script sizes from
        out["api_cpu_ms"] = round(api_s / served * 1e3, 3)
        out["db_cpu_ms"] = round((_db_cpu(database) - db0) / served * 1e3, 3)
        out["redis_cpu_ms"] = round(redis_s / served * 1e3, 3)
        out["generator_cpu_ms"] = round(out["generator_cores"] * args.duration / served
                                        * 1e3, 3)
    return out


def _report(s: _Servers, args: Any, data: dict[str, Any], baseline: dict[str, Any],
            results: dict[str, Any], cached: dict[str, list[str]]) -> dict[str, Any]:
    """One deployment's JSON: the baseline, every endpoint, cached ratios to the baseline."""
    base, refused = baseline["base"], baseline["refused"]
    for label in cached:
        results[label]["ratio"] = None if refused else round(
            results[label]["rps"] / base["rps"], 3)
    return {
        "benchmark": "api", "connections": args.connections, "workers": s.workers,
        "load_generator": "wrk" if shutil.which("wrk") else "httpx",
        "baseline_server_busy": round(baseline["busy"], 2),
        "cpu_quota_cores_per_process": s.quotas.cores if s.quotas else None,
        "redis_idle_cores": round(s.redis_idle, 4),
        "pinned": {"servers": s.server_cpus, "load_generator": s.load_cpus}
        if s.server_cpus else None,
        "data": data, "baseline_rps": base["rps"], "baseline": base,
        "ratio": None if refused else min(results[k]["ratio"] for k in cached),
        "ratios_refused": refused, "redis": bool(s.redis_url), "endpoints": results,
    }


def _run(args: Any, url: str, procs: list[subprocess.Popen[bytes]],
         redis_url: str | None = None, quotas: CpuQuotas | None = None) -> dict[str, Any]:
    """Fill (or reuse) the database, serve both apps into ``procs`` (each server process
    under its own CPU quota with ``quotas``), load each endpoint."""
    data = _data(args, url)
    servers = _start(args.workers, url, redis_url, quotas, procs)
    cached, uncached = _paths(url)
    baseline = _baseline(servers, args)
    database = database_name(url)
    results = {label: _measure(servers, paths, label in cached, args, database)
               for label, paths in [*cached.items(), *uncached.items()]}
    return _report(servers, args, data, baseline, results, cached)


if __name__ == "__main__":
    main()
