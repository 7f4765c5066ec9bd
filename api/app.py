"""The app factory: ``create_app()`` builds the Litestar app every part of the API hangs on.

Layering: problem details, the caller-identity + rate-limit middleware and metrics apply to
the whole app; resources live under the ``/api/v1`` router, one Controller per resource
(``api/routes``); the pool, cache backend and invalidation listener are opened in the
lifespan, never at import. Billing and the dashboard extend it through
``api.routes.EXTENSIONS``; templates (``api/templates``) and static files (``api/static``)
are mounted when those directories exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Server

from api.lib.auth import provide_principal, provide_user
from api.lib.backends import MemoryBackend, RedisBackend
from api.lib.cache import ResponseCache
from api.lib.db import open_pool, resolve_url
from api.lib.errors import exception_handlers
from api.lib.invalidation import listen_for_ingest
from api.lib.metrics import Metrics
from api.lib.openapi import add_problem_responses
from api.lib.ratelimit import rate_limit_middleware
from api.lib.runtime import Runtime
from api.services.principals import Principal, PrincipalResolver
from api.settings import get_app_settings

if TYPE_CHECKING:
    from api.settings import AppSettings

logger = logging.getLogger(__name__)

_HERE = Path(__file__).parent
API_PREFIX = "/api/v1"


def _v1_handlers() -> list[Any]:
    from api.routes.accounts import AccountController, AuthController
    from api.routes.alerts import AlertHistoryController, AlertRuleController
    from api.routes.api_keys import ApiKeyController
    from api.routes.deals import DealController
    from api.routes.events import EventController, RefreshController
    from api.routes.history import HistoryController
    from api.routes.listings import ListingController
    from api.routes.watchlists import WatchlistController

    return [EventController, RefreshController, ListingController, HistoryController,
            DealController, AuthController, AccountController, ApiKeyController,
            WatchlistController, AlertRuleController, AlertHistoryController]


def _extensions() -> list[Any]:
    from api.routes import EXTENSIONS

    handlers: list[Any] = []
    for spec in EXTENSIONS:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):
                continue  # that part is not installed / written yet
            raise
        handlers.extend(getattr(module, attr))
    return handlers


def _extension_lifespans() -> list[Any]:
    """Background work of optional parts, entered after the core lifespan (pool open)."""
    try:
        from api.billing.sweeper import billing_lifespan
    except ModuleNotFoundError:
        return []
    return [billing_lifespan]


def _templates_and_static() -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if (_HERE / "templates").is_dir():
        from litestar.plugins.jinja import JinjaTemplateEngine
        from litestar.template.config import TemplateConfig

        kw["template_config"] = TemplateConfig(directory=_HERE / "templates",
                                               engine=JinjaTemplateEngine)
    if (_HERE / "static").is_dir():
        from litestar.static_files import create_static_files_router

        kw["static"] = create_static_files_router(path="/static", directories=[_HERE / "static"],
                                                  include_in_schema=False)
    return kw


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Rip City Ticket Dispatch API",
        version="1.0.0",
        description=(
            "Events, listings, price history and deals aggregated from Ticketmaster, "
            "SeatGeek, Eventbrite and StubHub; watchlists and price alerts. Money is integer "
            "cents (all-in per ticket). Errors are RFC 9457 problem+json. Authenticate with "
            "`Authorization: Bearer <api key>` or the session cookie from /api/v1/auth/login."
        ),
        path="/schema",
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        components=Components(security_schemes={
            "apiKey": SecurityScheme(type="http", scheme="bearer",
                                     description="an API key from POST /api/v1/api-keys"),
            "session": SecurityScheme(type="apiKey", name="ripcity_session",
                                      security_scheme_in="cookie"),
        }),
        servers=[Server(url="/")],
        use_handler_docstrings=True,
    )


def create_app(settings: AppSettings | None = None, *, db_url: str | None = None,
               rate_limit_multiplier: float = 1.0,
               redis_prefix: str = "ripcity:api:") -> Litestar:
    """Build the API app.

    Args:
        settings: the settings object (default: ``get_app_settings()`` from the environment).
        db_url: PostgreSQL URL overriding the settings (tests pass their fresh database).
        rate_limit_multiplier: scales every plan's per-minute limit (load tests raise it).
        redis_prefix: namespace of this deployment's keys when ``RIPCITY_REDIS_URL`` is set.
    """
    settings = settings or get_app_settings()
    metrics = Metrics()
    runtime = Runtime(settings=settings, metrics=metrics, db_url=db_url,
                      rate_limit_multiplier=rate_limit_multiplier)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        url = resolve_url(settings, db_url)
        runtime.db_url = url
        runtime._pool = await open_pool(url, settings.db_pool_size)
        runtime.backend = (RedisBackend.from_url(settings.redis_url, redis_prefix)
                           if settings.redis_url else MemoryBackend())
        runtime.cache = ResponseCache(runtime.backend, metrics)
        runtime.principals = PrincipalResolver(runtime._pool)
        ready = asyncio.Event()
        app.state.invalidation_ready = ready
        listener = asyncio.create_task(listen_for_ingest(url, runtime._pool, runtime.cache,
                                                         ready),
                                       name="ripcity-cache-invalidation")
        # serve once summaries are fresh (bounded: a slow database must not block startup)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(ready.wait()), timeout=15)
        # Everything loaded so far lives for the whole process: keep it out of the cyclic
        # GC's full collections, whose pauses would otherwise show up as p99 latency.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await runtime.backend.close()
            await runtime._pool.close()

    from api.routes.health import HealthController

    v1 = Router(path=API_PREFIX, route_handlers=_v1_handlers())
    extra = _templates_and_static()
    static = extra.pop("static", None)
    handlers: list[Any] = [HealthController, v1, *_extensions()]
    if static is not None:
        handlers.append(static)
    app = Litestar(
        route_handlers=handlers,
        lifespan=[lifespan, *_extension_lifespans()],
        state=_state(runtime),
        dependencies={
            "principal": Provide(provide_principal),
            "user": Provide(provide_user),
            "runtime": Provide(lambda: runtime, use_cache=True, sync_to_thread=False),
        },
        middleware=[metrics.middleware, rate_limit_middleware(runtime)],
        exception_handlers=exception_handlers(),
        signature_namespace={"Principal": Principal, "Runtime": Runtime},
        openapi_config=_openapi(),
        compression_config=CompressionConfig(backend="gzip", minimum_size=2048,
                                             gzip_compress_level=5),
        request_max_body_size=64 * 1024,
        debug=False,
        **extra,
    )
    add_problem_responses(app)
    return app


def _state(runtime: Runtime) -> Any:
    from litestar.datastructures import State

    return State({"runtime": runtime})
