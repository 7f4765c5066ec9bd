"""Operations and HTTP behaviour: health, readiness, metrics, rate limits (memory and Redis),
ETag round trips and their invalidation on ingest, compression, problem details."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.fixtures_api import ServerThread, fresh_database, listing_batch, new_user, seed

V1 = "/api/v1"


def test_health_ready_and_metrics(http):
    assert http.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = http.get("/readyz").json()
    assert ready["status"] == "ok" and ready["checks"]["database"] == "ok"
    http.get(f"{V1}/events")
    http.get(f"{V1}/events")
    text = http.get("/metrics").text
    assert 'ripcity_api_requests_total{method="GET",route="/api/v1/events",status="200"}' in text
    assert 'ripcity_api_request_seconds_bucket{le="0.005",method="GET"' in text
    assert 'ripcity_api_cache_total{result="hit"}' in text


def test_readyz_says_when_migrations_are_missing(api_template_db):
    from api.app import create_app

    with fresh_database(api_template_db) as url:
        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM schema_migrations WHERE version = "
                         "(SELECT max(version) FROM schema_migrations)")
        with ServerThread(create_app(db_url=url)) as base:
            r = httpx.get(f"{base}/readyz")
    assert r.status_code == 503 and "ripcity db migrate" in r.json()["detail"]


def test_problem_details_for_unknown_routes_and_methods(http):
    r = http.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert "/schema" in r.json()["detail"]
    r = http.put(f"{V1}/events")
    assert r.status_code == 405 and r.json()["status"] == 405


def test_openapi_document(http):
    doc = http.get("/schema/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert f"{V1}/events/{{event_id}}/listings" in doc["paths"]
    problem = doc["paths"][f"{V1}/events"]["get"]["responses"]["422"]
    assert "application/problem+json" in problem["content"]
    assert http.get("/schema").status_code == 200


@pytest.fixture()
def limited(api_world) -> Iterator[str]:
    """An app whose limits are 1/20 of the plans' (anonymous: 6 a minute)."""
    from api.app import create_app

    with ServerThread(create_app(db_url=api_world.db_url, rate_limit_multiplier=0.05)) as b:
        yield b


def test_rate_limit_per_caller_with_retry_after(limited, http):
    with httpx.Client(base_url=limited) as c:
        statuses = [c.get(f"{V1}/events").status_code for _ in range(6)]
        assert statuses == [200] * 6
        r = c.get(f"{V1}/events")
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.headers["ratelimit-limit"] == "6" and r.headers["ratelimit-remaining"] == "0"
        assert r.json()["retry_after"] == int(r.headers["retry-after"])
        assert "requests per minute" in r.json()["detail"]
        # a key has its own budget, sized by its plan (free: 120 * 0.05 = 6)
        user = new_user(http)  # signed up through the unlimited app (same database)
        ok = c.get(f"{V1}/events", headers=user["headers"])
        assert ok.status_code == 200 and ok.headers["ratelimit-limit"] == "6"
        assert int(ok.headers["ratelimit-remaining"]) < 6


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis(socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_available(), reason="Redis is not running on 127.0.0.1:6379")
def test_rate_limit_is_shared_across_processes_with_redis(api_world):
    from api.app import create_app
    from engine.settings import load_settings

    settings = load_settings(RIPCITY_REDIS_URL="redis://127.0.0.1:6379/0")
    prefix = f"ripcity:test:{uuid.uuid4().hex[:8]}:"
    apps = [create_app(settings, db_url=api_world.db_url, rate_limit_multiplier=0.05,
                       redis_prefix=prefix) for _ in range(2)]
    with ServerThread(apps[0]) as one, ServerThread(apps[1]) as two:
        first = httpx.get(f"{one}{V1}/deals?limit=3")  # a miss: computed and stored in Redis
        second = httpx.get(f"{two}{V1}/deals?limit=3")  # the other process finds it
        hits = [line for line in httpx.get(f"{two}/metrics").text.splitlines()
                if line.startswith('ripcity_api_cache_total{result="hit"}')]
        codes = [httpx.get(f"{(one, two)[i % 2]}{V1}/events").status_code for i in range(5)]
    assert first.status_code == second.status_code == 200
    assert second.headers["etag"] == first.headers["etag"] and hits[0].endswith(" 1.0")
    assert codes == [200] * 4 + [429]  # six a minute, counted across both processes


@pytest.fixture()
def own_world(api_template_db) -> Iterator[tuple[str, object]]:
    """A fresh seeded database and an app of its own (ingest changes data)."""
    from api.app import create_app

    with fresh_database(api_template_db) as url:
        world = seed(url, events=3, listings=20)
        app = create_app(db_url=url)
        with ServerThread(app) as base:
            deadline = time.monotonic() + 10
            while not app.state.invalidation_ready.is_set() and time.monotonic() < deadline:
                time.sleep(0.02)
            yield base, world


def _wait_for_change(c: httpx.Client, path: str, etag: str) -> httpx.Response:
    """Poll until the resource's ETag differs (the NOTIFY reaches the API asynchronously)."""
    for _ in range(200):
        r = c.get(path, headers={"If-None-Match": etag})
        if r.status_code != 304:
            return r
        time.sleep(0.025)
    raise AssertionError(f"{path} still answers 304 for {etag} after ingest")


def test_etag_round_trip_and_invalidation_on_ingest(own_world):
    from storage.ingest import write_snapshots

    base, world = own_world
    changed, untouched = world.event_ids[0], world.event_ids[1]
    with httpx.Client(base_url=base) as c:
        listings = f"{V1}/events/{changed}/listings"
        first = c.get(listings)
        etag = first.headers["etag"]
        assert first.headers["cache-control"].startswith("public, max-age=")
        again = c.get(listings, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        other = c.get(f"{V1}/events/{untouched}")
        other_tag = other.headers["etag"]

        with psycopg.connect(world.db_url) as conn:  # the engine ingests a cheaper listing
            write_snapshots(conn, listing_batch(f"seatgeek-{changed}", "seatgeek", 1,
                                                start=500, price_shift=-4_000))
        fresh = _wait_for_change(c, listings, etag)
        assert fresh.status_code == 200 and fresh.headers["etag"] != etag
        ids = {li["listing_id"] for li in fresh.json()["items"]}
        assert f"se-seatgeek-{changed}-500" in ids
        assert c.get(f"{V1}/events/{untouched}",
                     headers={"If-None-Match": other_tag}).status_code == 304


def test_large_responses_are_compressed(http, api_world):
    path = f"{V1}/events/{api_world.event_ids[0]}/listings?limit=60"
    for _ in range(2):  # a miss (Litestar compresses) and a hit (the cached gzip twin)
        r = http.get(path, headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-encoding"] == "gzip"
        assert len(r.json()["items"]) == 60
    plain = http.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and len(plain.json()["items"]) == 60


def test_redis_outage_degrades_to_uncached_unlimited(api_world):
    from api.app import create_app
    from bench.harness import free_port
    from engine.settings import load_settings

    settings = load_settings(RIPCITY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(settings, db_url=api_world.db_url, rate_limit_multiplier=0.01)
    with ServerThread(app) as base:
        codes = {httpx.get(f"{base}{V1}/events?limit=2").status_code for _ in range(3)}
    assert codes == {200}  # nobody is refused because the limiter's store is down
