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
same run, each sharing a private Redis (``redis-server`` on a free port: limits and cache as
in production), and prints ``scaling`` = N-process rps / 1-process rps per endpoint.

Uses a scratch database (``bench.harness.scratch_database``: RIPCITY_DATABASE_URL's server,
else 127.0.0.1:5432, else the embedded one), dropped afterwards unless ``--keep-db``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
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


def _serve(factory: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--no-access-log",
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


def _wrk(base: str, paths: list[str], connections: int, duration: int) -> dict[str, Any]:
    lua = _LUA.replace("PATHS", ", ".join(json.dumps(p) for p in paths))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", f.name,
             base], capture_output=True, text=True, check=True, timeout=duration + 60).stdout
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


def _load(base: str, paths: list[str], connections: int, duration: int) -> dict[str, Any]:
    if shutil.which("wrk"):
        return _wrk(base, paths, connections, duration)
    out = subprocess.run([sys.executable, "-c", _PY_LOAD, base, json.dumps(paths),
                          str(connections), str(duration)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


#: the baseline server must be this busy (CPU of one core per process) for the load
#: generator to count as outrunning it; below, ratios would measure the generator
SATURATED = 0.8


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
    ap.add_argument("--reuse-db", default=None,
                    help="database name filled by an earlier --keep-db run (skips the fill)")
    ap.add_argument("--keep-db", action="store_true", help="do not drop the database")
    args = ap.parse_args(argv)

    with scratch_database("ripcity_bench_api", reuse=args.reuse_db, keep=args.keep_db) as url:
        try:
            if args.processes > 1:
                emit(_scaling(args, url))
            else:
                procs: list[subprocess.Popen[bytes]] = []
                try:
                    emit(_run(args, url, procs))
                finally:
                    for p in procs:
                        _stop(p)
        finally:
            if args.keep_db:
                print(f"kept database {database_name(url)}", file=sys.stderr)


def _scaling(args: Any, url: str) -> dict[str, Any]:
    """The same endpoints on 1 API process and on ``--processes`` N, one Redis for each."""
    runs: dict[int, dict[str, Any]] = {}
    for n in (1, args.processes):
        procs: list[subprocess.Popen[bytes]] = []
        with private_redis() as redis:
            try:
                runs[n] = _run(argparse_copy(args, workers=n, reuse_db=args.reuse_db
                                             or (database_name(url) if runs else None)),
                               url, procs, redis_url=redis)
            finally:
                for p in procs:
                    _stop(p)
    one, many = runs[1], runs[args.processes]
    refused = one.get("ratios_refused") or many.get("ratios_refused")
    scaling = None if refused else {
        label: round(many["endpoints"][label]["rps"] / one["endpoints"][label]["rps"], 3)
        for label in one["endpoints"] if one["endpoints"][label]["rps"]}
    return {
        "benchmark": "api-processes", "processes": args.processes,
        "load_generator": one["load_generator"], "one_process": one,
        "n_processes": many, "scaling": scaling,
        "scaling_refused": refused,
        "workload": {"data": one["data"], "connections": args.connections,
                     "duration_s_per_endpoint": args.duration,
                     "servers": "uvicorn with 1 worker, then N workers (the processes "
                                "`ripcity serve --workers N` runs), sharing one private "
                                "Redis (limits, cache) and the database",
                     "cpus": os.cpu_count()},
    }


def argparse_copy(args: Any, **changes: Any) -> Any:
    import argparse

    return argparse.Namespace(**{**vars(args), **changes})


def _run(args: Any, url: str, procs: list[subprocess.Popen[bytes]],
         redis_url: str | None = None) -> dict[str, Any]:
    """Fill (or reuse) the database, serve both apps into ``procs``, load each endpoint."""
    t0 = time.monotonic()
    if args.reuse_db:
        with psycopg.connect(url) as conn:
            data = {"events": conn.execute("SELECT count(*) FROM events").fetchone()[0],  # type: ignore[index]
                    "listings": conn.execute("SELECT count(*) FROM listings_current "
                                             "WHERE gone_at IS NULL").fetchone()[0]}  # type: ignore[index]
    else:
        data = fill(url, args.events, args.per_event)
        data["fill_s"] = round(time.monotonic() - t0, 1)
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]
    env = {**os.environ, "RIPCITY_DATABASE_URL": url, "RIPCITY_LOG_LEVEL": "WARNING",
           "PYTHONPATH": os.getcwd()}
    env.pop("RIPCITY_REDIS_URL", None)
    if redis_url:
        env["RIPCITY_REDIS_URL"] = redis_url
    hp, ap_ = free_port(), free_port()
    procs.append(_serve("bench.api:hello_app", hp, args.workers, env))
    procs.append(_serve("bench.api:bench_app", ap_, args.workers, env))
    hello, api = f"http://127.0.0.1:{hp}", f"http://127.0.0.1:{ap_}"
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
    results: dict[str, Any] = {}
    cpu0, wall0 = _tree_cpu(procs[0]), time.monotonic()
    base = _load(hello, ["/hello"], args.connections, args.duration)
    busy = (_tree_cpu(procs[0]) - cpu0) / (time.monotonic() - wall0) / args.workers
    generator = "wrk" if shutil.which("wrk") else "httpx"
    refused = None
    if generator != "wrk":
        refused = ("no wrk: the httpx load generator cannot outrun the server (`make bench` "
                   "installs Debian's wrk)")
    elif busy < SATURATED:
        refused = (f"the load generator kept the baseline server only {busy:.0%} busy per "
                   f"process (< {SATURATED:.0%}): the ratios would measure the generator")
    database = database_name(url)
    for label, paths in [*cached.items(), *uncached.items()]:
        if label in cached:
            _load(api, paths, args.connections, 2)  # warm the cache
        api0, db0 = _tree_cpu(procs[1]), _db_cpu(database)
        results[label] = _load(api, paths, args.connections, args.duration)
        served = results[label]["rps"] * args.duration
        if served:  # CPU per request: what the capacity script sizes from
            results[label]["api_cpu_ms"] = round((_tree_cpu(procs[1]) - api0) / served * 1e3, 3)
            results[label]["db_cpu_ms"] = round((_db_cpu(database) - db0) / served * 1e3, 3)
    for label in cached:
        results[label]["ratio"] = None if refused else round(
            results[label]["rps"] / base["rps"], 3)
    return {
        "benchmark": "api", "connections": args.connections, "workers": args.workers,
        "load_generator": generator, "baseline_server_busy": round(busy, 2),
        "data": data, "baseline_rps": base["rps"], "baseline": base,
        "ratio": None if refused else min(results[k]["ratio"] for k in cached),
        "ratios_refused": refused, "redis": bool(redis_url), "endpoints": results,
    }


if __name__ == "__main__":
    main()
