"""The app factory: ``create_app()`` builds the Litestar app every part of the API hangs on.

Layering: problem details, the caller-identity + rate-limit middleware and metrics apply to
the whole app; resources live under the ``/api/v1`` router, one Controller per resource,
each in its domain package (``api/events``, ``api/listings``, ``api/deals``,
``api/history``, ...); operations endpoints, billing, webhooks, the dashboard (``api/web``,
templates in ``api/templates``) and static files (``api/static``) are mounted at the root.
The pool, cache backend and invalidation listener are opened in the lifespan, never at
import; billing's grace-period sweeper runs in a second lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Server
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api.accounts.controller import AccountController, ApiKeyController, AuthController
from api.alerts.controller import AlertHistoryController, AlertRuleController
from api.billing.controller import BillingController
from api.billing.sweeper import billing_lifespan
from api.deals.controller import DealController
from api.events.controller import EventController, RefreshController
from api.forecasts.controller import ForecastController
from api.history.controller import HistoryController
from api.lib.analytics import search_analytics_middleware
from api.lib.assets import asset_routers
from api.lib.auth import provide_principal, provide_user, require_json
from api.lib.backends import MemoryBackend, RedisBackend
from api.lib.cache import ResponseCache
from api.lib.db import open_pool, resolve_url
from api.lib.docs_ui import ScalarPage, SwaggerPage
from api.lib.errors import exception_handlers
from api.lib.header_limit import header_limit
from api.lib.headers import security_headers
from api.lib.invalidation import listen_for_ingest
from api.lib.metrics import Metrics
from api.lib.openapi import add_problem_responses
from api.lib.principals import Principal, PrincipalResolver
from api.lib.ratelimit import rate_limit_middleware
from api.lib.replicas import ReadRouter, Reads, provide_reads, read_routing_middleware
from api.lib.runtime import Runtime
from api.lib.throttle import Throttle
from api.listings.controller import ListingController
from api.ops.controller import HealthController
from api.purchases import ClaimWindowController, PurchaseController
from api.recommendations.controller import RecommendationController
from api.saved_searches.controller import SavedSearchController
from api.settings import get_app_settings
from api.valuation.controller import FairPriceController
from api.watchlists.controller import WatchlistController
from api.web import ROUTE_HANDLERS as DASHBOARD_HANDLERS
from api.webhook_endpoints import WebhookEndpointController, document_webhooks
from api.webhooks import ROUTE_HANDLERS as WEBHOOK_HANDLERS

if TYPE_CHECKING:
    from api.settings import AppSettings

logger = logging.getLogger(__name__)

_HERE = Path(__file__).parent
API_PREFIX = "/api/v1"

#: the resources under ``/api/v1``, one Controller each
_V1_HANDLERS: list[Any] = [
    EventController, RefreshController, ListingController, HistoryController, DealController,
    AuthController, AccountController, ApiKeyController, WatchlistController,
    AlertRuleController, AlertHistoryController, WebhookEndpointController,
    PurchaseController, ClaimWindowController, SavedSearchController,
    RecommendationController, FairPriceController, ForecastController,
]
#: mounted at the root, after the operations endpoints and the ``/api/v1`` router
_ROOT_HANDLERS: list[Any] = [BillingController, *WEBHOOK_HANDLERS, *DASHBOARD_HANDLERS]


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
        render_plugins=[ScalarPage(), SwaggerPage(path="/swagger")],
        components=Components(security_schemes={
            "apiKey": SecurityScheme(type="http", scheme="bearer",
                                     description="an API key from POST /api/v1/api-keys"),
            "session": SecurityScheme(
                type="apiKey", name="ripcity_session", security_scheme_in="cookie",
                description="the session cookie from POST /api/v1/auth/login; writes also "
                            "send the `ripcity_csrf` cookie's value as `X-CSRF-Token`"),
            "metricsToken": SecurityScheme(
                type="http", scheme="bearer",
                description="RIPCITY_METRICS_TOKEN (unset: /metrics answers loopback only)"),
            "stripeSignature": SecurityScheme(
                type="apiKey", name="Stripe-Signature", security_scheme_in="header",
                description="Stripe's signature of the delivery (STRIPE_WEBHOOK_SECRET)"),
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
        runtime.throttle = Throttle(settings.redis_url, redis_prefix)
        runtime.reads = ReadRouter(runtime._pool, settings.read_urls,
                                   max_lag_s=settings.replica_max_lag_s,
                                   size=settings.db_pool_size)
        await runtime.reads.start()
        ready = asyncio.Event()
        app.state.invalidation_ready = ready
        listener = asyncio.create_task(listen_for_ingest(url, runtime._pool, runtime.cache,
                                                         ready),
                                       name="ripcity-cache-invalidation")
        product_log = asyncio.create_task(runtime.product_log.run(runtime._pool),
                                          name="ripcity-product-log")
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
            product_log.cancel()  # writes what is still waiting first
            for task in (listener, product_log):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.reads.close()
            await runtime.backend.close()
            await runtime._pool.close()

    v1 = Router(path=API_PREFIX, route_handlers=_V1_HANDLERS, before_request=require_json)
    static = create_static_files_router(path="/static", directories=[_HERE / "static"],
                                        include_in_schema=False)
    app = Litestar(
        route_handlers=[HealthController, v1, *_ROOT_HANDLERS, static, *asset_routers()],
        lifespan=[lifespan, billing_lifespan],
        state=State({"runtime": runtime}),
        dependencies={
            "principal": Provide(provide_principal),
            "user": Provide(provide_user),
            "runtime": Provide(lambda: runtime, use_cache=True, sync_to_thread=False),
            "reads": Provide(provide_reads),
        },
        middleware=[metrics.middleware, search_analytics_middleware(runtime),
                    rate_limit_middleware(runtime), read_routing_middleware(runtime)],
        exception_handlers=exception_handlers(),
        signature_namespace={"Principal": Principal, "Runtime": Runtime, "Reads": Reads},
        openapi_config=_openapi(),
        compression_config=CompressionConfig(backend="gzip", minimum_size=2048,
                                             gzip_compress_level=5),
        request_max_body_size=64 * 1024,
        debug=False,
        template_config=TemplateConfig(directory=_HERE / "templates",
                                       engine=JinjaTemplateEngine),
    )
    add_problem_responses(app)
    # around the whole router, not per route: a 404 or 405 gets the headers too, and an
    # oversized request is refused before routing
    app.asgi_handler = header_limit(security_headers(app.asgi_handler))
    document_webhooks(app)
    return app

