"""Sandbox throughput: fresh JSON listing pages per second from one sandbox process.

Target: the sandbox is never the bottleneck of a crawl benchmark; on a 2-core box it serves
>= 2,000 listing pages per second (100 listings each) from one process under keep-alive
load.

Starts a sandbox of ~1,000,000 live listings in a subprocess. This process (the load
generator) first fetches page 1 of every (event, marketplace) listing set (SeatGeek
listings, StubHub inventory, Ticketmaster top picks) to learn its size, then requests
``--pages`` distinct full pages of 100 listings, page 2 of every set, then page 3 of every
set, ... (the order least friendly to per-event caching): every URL once, so every page is
generated, none comes from the page cache. The baseline is the same number of requests for
a trivial static JSON response from the same server; ``ratio`` = pages_per_s /
baseline_pages_per_s. ``warm_*`` repeats the last ``--warm-pages`` URLs at the same clock
tick (page cache hits).

The load generator shares the machine's cores with the server, so it is kept cheap: one
process, a few keep-alive connections with pipelined GETs written as raw bytes on asyncio
streams (no HTTP client library); ``client_cpu_ms_per_page`` shows what it costs.
``server_cpu_ms_per_page`` is the sandbox process's own CPU time per page and
``server_pages_per_cpu_s`` its inverse: what one process serves with a core to itself, a
figure other load on a shared machine barely moves (``pages_per_s`` is wall clock and
does). ``in_process`` times page generation in this process on the same world: the column
renderers against the listing dicts + orjson (the reference format definition), same
pages, interleaved, best of five.

Prints one JSON object. ``python -m bench.sandbox [--events N] [--listings-per-event M]``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import deque
from urllib.parse import urlsplit

import httpx

from bench.harness import Stopwatch, arguments, emit, percentile_ms, process_cpu
from sandbox.server import start_sandbox

TARGET_PAGES_PER_S = 2000.0


def _request(url: str, host: str) -> bytes:
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    return (f"GET {target} HTTP/1.1\r\nHost: {host}\r\n"
            "Authorization: Bearer sandbox\r\n\r\n").encode()


async def _connection(host: str, port: int, work: deque, depth: int,
                      latencies: list[float], totals: dict[str, int]) -> None:
    """One keep-alive connection: keep ``depth`` requests in flight, read responses in
    order (HTTP/1.1 pipelining), refill as they complete."""
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inflight: deque[float] = deque()
    clock = time.perf_counter

    def refill() -> None:
        batch = []
        while len(inflight) < depth and work:
            batch.append(work.popleft())
            inflight.append(clock())
        if batch:
            writer.write(b"".join(batch))

    refill()
    while inflight:
        head = await reader.readuntil(b"\r\n\r\n")
        at = head.find(b"content-length:")
        if at < 0:
            at = head.lower().find(b"content-length:")
        size = int(head[at + 15 : head.index(b"\r\n", at)])
        await reader.readexactly(size)
        latencies.append(clock() - inflight.popleft())
        totals["bytes"] += size
        if head[9:12] != b"200":
            totals["errors"] += 1
        refill()
    writer.close()
    await writer.wait_closed()


def _load(port: int, requests: list[bytes], connections: int, depth: int,
          server_pid: int) -> dict:
    latencies: list[float] = []
    totals = {"bytes": 0, "errors": 0}
    work = deque(requests)

    async def run() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_connection("127.0.0.1", port, work, depth, latencies, totals)
                               for _ in range(connections)))
        return time.perf_counter() - start

    cpu0 = process_cpu(server_pid)
    with Stopwatch() as own:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
            elapsed = asyncio.run(run())
        else:
            elapsed = uvloop.run(run())
    cpu1 = process_cpu(server_pid)
    n = len(requests)
    server_cpu = sum(cpu1) - sum(cpu0)
    return {"requests": n, "seconds": elapsed, "rps": n / elapsed,
            "p50_ms": percentile_ms(latencies, 50, 2), "p99_ms": percentile_ms(latencies, 99, 2),
            "errors": totals["errors"] + n - len(latencies), "bytes": totals["bytes"],
            "server_cpu_ms": server_cpu * 1000 / n, "client_cpu_ms": own.cpu_seconds * 1000 / n,
            "server_sys_share": (cpu1[1] - cpu0[1]) / max(server_cpu, 1e-9)}


_MARKETS = ("seatgeek", "stubhub", "ticketmaster")


def _page_url(sb, m: str, event_id: str, page: int, per_page: int) -> str:
    """Page ``page`` (0-based) of an event's listings on marketplace ``m``."""
    if m == "seatgeek":
        return (f"{sb.urls['seatgeek']}/2/events/{event_id}/listings?client_id=sandbox"
                f"&per_page={per_page}&page={page + 1}")
    if m == "stubhub":
        return (f"{sb.urls['stubhub']}/search/inventory/v2?eventId={event_id}"
                f"&start={page * per_page}&rows={per_page}")
    return (f"{sb.urls['ticketmaster']}/top-picks/v1/events/{event_id}?apikey=sandbox"
            f"&size={per_page}&page={page}")


def _total(m: str, body: dict) -> int:
    if m == "seatgeek":
        return body["meta"]["total"]
    if m == "stubhub":
        return body["totalListings"]
    return body["page"]["totalElements"]


def _page_urls(sb, truth_events: list[dict], pages: int, per_page: int) -> list[str]:
    """``pages`` distinct full pages, round-robin over every (event, marketplace): page 1 of
    each, then page 2 of each, ... (the order least friendly to any per-event caching).

    Each listing set's first page is fetched here to learn its size (and to build the
    event's slot arrays and live index, as a crawl's first page would); the measured pages
    start at the second page, so none of them is in the page cache.
    """
    sets = []
    with httpx.Client(headers={"Authorization": "Bearer sandbox"}, timeout=60) as client:
        for ev in truth_events:
            for m in _MARKETS:
                if m in ev["ids"]:
                    body = client.get(_page_url(sb, m, ev["ids"][m], 0, per_page)).json()
                    sets.append((m, ev["ids"][m], _total(m, body) // per_page))
    urls: list[str] = []
    for page in range(1, max((n for *_, n in sets), default=0)):
        urls += [_page_url(sb, m, eid, page, per_page) for m, eid, n in sets if page < n]
    return urls[:pages]


def _in_process(events: int, listings_per_event: int, pages: int = 300) -> dict:
    """Page generation in this process, same world: the column renderers against the
    listing dicts + orjson (the readable reference, and the renderer before them), on the
    same pages, interleaved, best of several rounds (robust to other load)."""
    import orjson

    from sandbox.app import SandboxConfig, create_app
    from sandbox.seatgeek import fastjson as seatgeek_fast
    from sandbox.seatgeek import objects as seatgeek
    from sandbox.stubhub import fastjson as stubhub_fast
    from sandbox.stubhub import objects as stubhub
    from sandbox.ticketmaster import fastjson as ticketmaster_fast
    from sandbox.ticketmaster import objects as ticketmaster

    app = create_app(SandboxConfig(seed=7, events=events, listings_per_event=listings_per_event,
                                   faults="none"))
    model, t = app.model, app.clock.tick()
    fast = {"seatgeek": seatgeek_fast.sg_listings_json, "stubhub": stubhub_fast.sh_listings_json,
            "ticketmaster": ticketmaster_fast.tm_picks_json}
    slow = {"seatgeek": lambda e, live: orjson.dumps(seatgeek.sg_listings(e, live)),
            "stubhub": lambda e, live: orjson.dumps(stubhub.sh_listings(e, live)),
            "ticketmaster": lambda e, live: orjson.dumps(ticketmaster.tm_picks(e, live))}
    work = [(e, m, page) for page in range(1, 4) for e in app.world.events
            for m in _MARKETS if m in e.ids and e.status != "cancelled"][:pages]
    for e, m, _ in work:
        model.live_slots(e, m, t)

    def run(renderers: dict) -> float:
        start = time.perf_counter()
        for e, m, page in work:
            live, _ = model.page(e, m, t, page * 100, page * 100 + 100)
            renderers[m](e, live)
        return (time.perf_counter() - start) * 1000 / len(work)

    best_fast = best_slow = float("inf")
    for _ in range(5):
        best_fast, best_slow = min(best_fast, run(fast)), min(best_slow, run(slow))
    return {"ms_per_page": round(best_fast, 3), "reference_ms_per_page": round(best_slow, 3),
            "speedup": round(best_slow / best_fast, 2), "pages": len(work)}


def main(argv: list[str] | None = None) -> None:
    ap = arguments("bench.sandbox", __doc__)
    ap.add_argument("--events", type=int, default=250)
    ap.add_argument("--listings-per-event", type=int, default=4400)
    ap.add_argument("--pages", type=int, default=6000, help="distinct pages requested")
    ap.add_argument("--warm-pages", type=int, default=2000, help="pages requested again")
    ap.add_argument("--connections", type=int, default=8, help="keep-alive connections")
    ap.add_argument("--depth", type=int, default=4, help="pipelined requests per connection")
    ap.add_argument("--clock-speed", type=float, default=0.0,
                    help="simulated seconds per real second (0: a fixed clock, as crawl "
                         "benchmarks use; > 0: prices move, every tick is a fresh live set)")
    args = ap.parse_args(argv)
    per_page = 100
    with start_sandbox(events=args.events, listings_per_event=args.listings_per_event,
                       faults="none", seed=7, clock_speed=args.clock_speed) as sb:
        pid = sb.process.pid
        events = [e for e in sb.truth()["events"] if e["status"] != "cancelled"]
        host = f"127.0.0.1:{sb.port}"
        urls = _page_urls(sb, events, args.pages + 50, per_page)
        reqs = [_request(u, host) for u in urls]
        if len(reqs) < 60:
            raise SystemExit(f"this world has only {len(reqs)} full pages of {per_page} "
                             "beyond each set's first; raise --events or "
                             "--listings-per-event")

        def load(batch: list[bytes]) -> dict:
            return _load(sb.port, batch, args.connections, args.depth, pid)

        load(reqs[:50])  # connection setup, imports
        pages = load(reqs[50:])
        warm = load(reqs[-args.warm_pages:])  # the most recent pages: still in the page cache
        base = load([_request(f"{sb.base_url}/_sandbox/ping", host)] * len(reqs[50:]))
        summary = sb.control("truth/summary")
    listings = pages["requests"] * per_page
    local = _in_process(args.events, args.listings_per_event)
    emit({
        "pages_per_s": round(pages["rps"], 1),
        "listings_per_s": round(listings / pages["seconds"], 1),
        "p50_ms": pages["p50_ms"], "p99_ms": pages["p99_ms"],
        "errors": pages["errors"], "mb_per_s": round(pages["bytes"] / pages["seconds"] / 1e6, 1),
        "server_cpu_ms_per_page": round(pages["server_cpu_ms"], 3),
        "server_pages_per_cpu_s": None if not pages["server_cpu_ms"]
        else round(1000 / pages["server_cpu_ms"], 1),
        "server_kernel_share": round(pages["server_sys_share"], 2),
        "client_cpu_ms_per_page": round(pages["client_cpu_ms"], 3),
        "target_pages_per_s": TARGET_PAGES_PER_S,
        "meets_target": pages["rps"] >= TARGET_PAGES_PER_S,
        "workload": {"events": args.events, "listings_per_event": args.listings_per_event,
                     "live_listings": summary["live_listings_total"],
                     "distinct_pages": pages["requests"], "per_page": per_page,
                     "connections": args.connections, "pipeline_depth": args.depth,
                     "clock_speed": args.clock_speed,
                     "cache": "cold (every URL once, every page full)",
                     "marketplaces": ["seatgeek", "stubhub", "ticketmaster"],
                     "cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
        "warm_pages": warm["requests"], "warm_pages_per_s": round(warm["rps"], 1),
        "warm_p99_ms": warm["p99_ms"],
        "warm_server_cpu_ms_per_page": round(warm["server_cpu_ms"], 3),
        "baseline_pages_per_s": round(base["rps"], 1),
        "baseline_p99_ms": base["p99_ms"],
        "baseline_server_cpu_ms_per_request": round(base["server_cpu_ms"], 3),
        "ratio": round(pages["rps"] / base["rps"], 3),
        "warm_ratio": round(warm["rps"] / base["rps"], 3),
        "in_process": local,
    })


if __name__ == "__main__":
    main()
