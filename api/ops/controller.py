"""Operations: liveness, readiness (database reachable, migrations current, which read
replicas serve), metrics."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

import psycopg
from litestar import Controller, Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.lib.errors import Forbidden, Unauthorized, problem_response
from api.lib.security import same
from api.ops.schemas import Health
from storage.migrate import load_migrations
from storage.ops import migration_checksums

if TYPE_CHECKING:
    from litestar.datastructures import State


def _may_scrape(request: Request[Any, Any, Any], token: str | None) -> None:
    if token:
        sent = request.headers.get("authorization", "")
        if not sent.lower().startswith("bearer ") or not same(sent[7:].strip(), token):
            raise Unauthorized("/metrics needs `Authorization: Bearer <RIPCITY_METRICS_TOKEN>`.")
        return
    host = request.client.host if request.client else ""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local:
        raise Forbidden("/metrics answers only this machine until RIPCITY_METRICS_TOKEN is "
                        "set; set it and send it as a bearer token from your scraper.")


class HealthController(Controller):
    tags = ["operations"]
    include_in_schema = True

    @get("/healthz", summary="Liveness: the process serves requests", cache_control=None)
    async def healthz(self) -> Health:
        return Health(status="ok")

    @get("/readyz", summary="Readiness: database reachable and migrations current")
    async def readyz(self, state: State) -> Response[Any]:
        runtime = state.runtime
        try:
            async with runtime.pool.connection(timeout=3.0) as conn:
                applied = await migration_checksums(conn)
        except (psycopg.Error, OSError) as err:
            return problem_response(503, "not-ready", "Not ready",
                                    f"The database is not reachable ({type(err).__name__}); "
                                    "check RIPCITY_DATABASE_URL and that PostgreSQL runs.")
        files = load_migrations()
        pending = [m.filename for m in files if m.version not in applied]
        changed = [m.filename for m in files
                   if m.version in applied and applied[m.version] != m.checksum]
        if pending or changed:
            what = ", ".join(pending + changed)
            return problem_response(503, "not-ready", "Not ready",
                                    f"Database migrations are not current ({what}); "
                                    "run `ripcity db migrate`.")
        checks = {"database": "ok", "migrations": f"{len(files)} applied"}
        if runtime.reads is not None:  # replicas only route reads: never "not ready"
            for health in runtime.reads.health:
                checks[f"replica {health.url}"] = (
                    f"ok, lag {health.lag_s:.1f} s" if health.healthy
                    else f"skipped (reads on the primary): {health.error}")
        body = Health(status="ok", checks=checks)
        return Response(body)

    @get("/metrics", summary="Prometheus metrics of this process", media_type=CONTENT_TYPE_LATEST,
         security=[{"metricsToken": []}])
    async def metrics(self, request: Request[Any, Any, Any], state: State) -> Response[bytes]:
        """With `RIPCITY_METRICS_TOKEN` set, scrapers send `Authorization: Bearer <token>`;
        without it only clients on this machine (loopback) may read the metrics."""
        _may_scrape(request, state.runtime.settings.metrics_token)
        return Response(generate_latest(state.runtime.metrics.registry),
                        media_type=CONTENT_TYPE_LATEST)
