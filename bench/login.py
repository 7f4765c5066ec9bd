"""Login cost: does an unknown email cost what a known one does, and what do the throttles add?

    python -m bench.login [--rounds 8]

Workload: a fresh migrated database (``bench.harness.scratch_database``) with ``--rounds``
verified accounts made through ``storage.accounts`` (argon2id hashes of the production
parameters); the API (``api.app.create_app``, what ``ripcity serve`` runs) on uvicorn on
127.0.0.1 in this process. Each round posts ``POST /api/v1/auth/login`` three ways, in turn:
a known email with a wrong password, an unknown email, and a known email with the right
password (a new session), each account used once so the per-account throttle never waits
(2 × rounds failures stay under the per-address 20 a minute). Baseline from the same run:
``GET /healthz``. Prints one JSON object: median and p90 latency per kind, the
unknown / known ratio (1.0 = indistinguishable; before issue 16 it was 0.015), the
baseline, and the server's CPU seconds per login.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from typing import Any

import httpx

from bench.harness import arguments, emit, scratch_database

PASSWORD = "correct horse battery staple"


def _accounts(db_url: str, n: int) -> list[str]:
    from psycopg import AsyncConnection

    from api.lib.security import hash_password
    from storage import accounts

    async def make() -> list[str]:
        emails = []
        async with await AsyncConnection.connect(db_url, autocommit=True) as conn:
            for _ in range(n):
                email = f"b{uuid.uuid4().hex[:10]}@example.com"
                user = await accounts.create_user(conn, email, hash_password(PASSWORD), None)
                await accounts.mark_email_verified(conn, user.id, email)
                emails.append(email)
        return emails

    return asyncio.run(make())


class _Server:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def _stats(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2)}


def main() -> None:
    parser = arguments("bench.login", __doc__)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    from api.app import create_app

    with scratch_database("ripcity_bench_login") as db_url:
        emails = _accounts(db_url, args.rounds)
        times: dict[str, list[float]] = {"known_wrong": [], "unknown": [], "known_right": [],
                                         "healthz": []}
        codes: dict[str, set[int]] = {k: set() for k in times}
        with _Server(create_app(db_url=db_url)) as base, \
                httpx.Client(base_url=base, timeout=30) as http:
            http.get("/healthz")
            cpu0, logins = time.process_time(), 0
            for email in emails:
                for kind, body in (
                        ("known_wrong", {"email": email, "password": "not the password"}),
                        ("unknown", {"email": f"x{uuid.uuid4().hex[:10]}@example.com",
                                     "password": "not the password"}),
                        ("known_right", {"email": email, "password": PASSWORD})):
                    start = time.perf_counter()
                    r = http.post("/api/v1/auth/login", json=body)
                    times[kind].append(time.perf_counter() - start)
                    codes[kind].add(r.status_code)
                    logins += 1
                    http.cookies.clear()
                start = time.perf_counter()
                codes["healthz"].add(http.get("/healthz").status_code)
                times["healthz"].append(time.perf_counter() - start)
            cpu = time.process_time() - cpu0  # server and client share this process
        result: dict[str, Any] = {"workload": f"{args.rounds} rounds x 3 logins + healthz, "
                                  "argon2id defaults, 1 uvicorn worker in-process"}
        for kind, seconds in times.items():
            result[kind] = {**_stats(seconds), "status": sorted(codes[kind])}
        result["unknown_over_known_wrong"] = round(
            result["unknown"]["p50_ms"] / result["known_wrong"]["p50_ms"], 3)
        result["login_over_healthz"] = round(
            result["known_wrong"]["p50_ms"] / result["healthz"]["p50_ms"], 1)
        result["cpu_s_per_login_incl_client"] = round(cpu / logins, 4)
        emit(result)


if __name__ == "__main__":
    main()
