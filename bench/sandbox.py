"""Sandbox throughput: JSON listing pages per second from one sandbox process.

Starts a sandbox of ~1,000,000 live listings in a subprocess, then this process (the load
generator) fetches distinct listing pages (100 listings each, SeatGeek, StubHub and
Ticketmaster in turn, every URL once, so every page is generated, none cached) over
keep-alive connections. The baseline is the same number of requests for a trivial static
JSON response from the same server; ``ratio`` = pages_per_s / baseline_pages_per_s.
``warm_*`` repeats the last ``--warm-pages`` URLs at the same clock tick (page cache hits).

Prints one JSON object. ``python -m bench.sandbox [--events N] [--listings-per-event M]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp
import numpy as np

from crawler.sandbox.server import start_sandbox


async def _load(urls: list[str], headers: dict[str, str], concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    byte_count = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for u in urls:
        queue.put_nowait(u)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors, byte_count
            while True:
                try:
                    url = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                async with session.get(url) as r:
                    body = await r.read()
                latencies.append(time.perf_counter() - t0)
                byte_count += len(body)
                if r.status != 200:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {"requests": len(urls), "seconds": elapsed, "rps": len(urls) / elapsed,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "errors": errors, "bytes": byte_count}


def _page_urls(sb, truth_events: list[dict], pages: int, per_page: int) -> list[str]:
    urls = []
    markets = ("seatgeek", "stubhub", "ticketmaster")
    for page in range(pages):
        for i, ev in enumerate(truth_events):
            m = markets[(i + page) % 3]
            ids = ev["ids"]
            if m not in ids:
                m = "seatgeek"
            if m == "seatgeek":
                urls.append(f"{sb.urls['seatgeek']}/2/events/{ids['seatgeek']}/listings"
                            f"?client_id=sandbox&per_page={per_page}&page={page + 1}")
            elif m == "stubhub":
                urls.append(f"{sb.urls['stubhub']}/search/inventory/v2?eventId={ids['stubhub']}"
                            f"&start={page * per_page}&rows={per_page}")
            else:
                urls.append(f"{sb.urls['ticketmaster']}/top-picks/v1/events/"
                            f"{ids['ticketmaster']}?apikey=sandbox&size={per_page}&page={page}")
    return urls


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.sandbox")
    ap.add_argument("--events", type=int, default=250)
    ap.add_argument("--listings-per-event", type=int, default=4400)
    ap.add_argument("--pages", type=int, default=6000, help="distinct pages requested")
    ap.add_argument("--warm-pages", type=int, default=2000, help="pages requested again")
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args(argv)
    per_page = 100
    with start_sandbox(events=args.events, listings_per_event=args.listings_per_event,
                       faults="none", seed=7) as sb:
        events = [e for e in sb.truth()["events"] if e["status"] != "cancelled"]
        per_event = max(1, args.pages // len(events) + 1)
        urls = _page_urls(sb, events, per_event, per_page)[: args.pages]
        headers = {"Authorization": "Bearer sandbox"}
        asyncio.run(_load(urls[:50], headers, 4))  # connection setup, imports
        pages = asyncio.run(_load(urls[50:], headers, args.concurrency))
        hot = urls[-args.warm_pages:]  # the most recent pages: still in the page cache
        warm = asyncio.run(_load(hot, headers, args.concurrency))
        ping = [f"{sb.base_url}/_sandbox/ping"] * len(urls[50:])
        base = asyncio.run(_load(ping, headers, args.concurrency))
        summary = sb.control("truth/summary")
    listings = pages["requests"] * per_page
    print(json.dumps({
        "pages_per_s": round(pages["rps"], 1),
        "listings_per_s": round(listings / pages["seconds"], 1),
        "p50_ms": round(pages["p50_ms"], 2), "p99_ms": round(pages["p99_ms"], 2),
        "errors": pages["errors"], "mb_per_s": round(pages["bytes"] / pages["seconds"] / 1e6, 1),
        "workload": {"events": args.events, "listings_per_event": args.listings_per_event,
                     "live_listings": summary["live_listings_total"],
                     "distinct_pages": pages["requests"], "per_page": per_page,
                     "concurrency": args.concurrency, "cache": "cold (every URL once)",
                     "marketplaces": ["seatgeek", "stubhub", "ticketmaster"]},
        "warm_pages": warm["requests"], "warm_pages_per_s": round(warm["rps"], 1),
        "warm_p99_ms": round(warm["p99_ms"], 2),
        "baseline_pages_per_s": round(base["rps"], 1),
        "baseline_p99_ms": round(base["p99_ms"], 2),
        "ratio": round(pages["rps"] / base["rps"], 3),
        "warm_ratio": round(warm["rps"] / base["rps"], 3),
    }))


if __name__ == "__main__":
    main()
