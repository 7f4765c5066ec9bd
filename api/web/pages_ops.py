"""Operations (admins only): crawl rates, backlog, errors per marketplace, alert latency, and
the product analytics (searches found and not, top events, the alert funnel, active users)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from api.lib.errors import Forbidden
from api.lib.replicas import reads_of
from api.web.common import admin_of, need_user, page, runtime_of
from storage import analytics
from storage import ops as ops_store


class OpsPages(Controller):
    include_in_schema = False

    @get("/ops", name="web:ops")
    async def ops(self, request: Request[Any, Any, Any]) -> Template:
        need_user(request)
        runtime = runtime_of(request)
        if not await admin_of(request):
            raise Forbidden("The operations page is for administrators: the first start of "
                            "`ripcity run` prints a link that creates one, and operators "
                            "list more in RIPCITY_ADMIN_EMAILS.")
        async with reads_of(request).connection() as conn:
            rates = await ops_store.crawl_rates(conn)
            backlog = await ops_store.backlog(conn)
            errors = await ops_store.error_reasons(conn)
            latency = await ops_store.alert_latency(conn)
            product = await analytics.product_report(conn, days=14)
        m = runtime.metrics
        return page(request, "ops.html", title="Operations", rates=rates, backlog=backlog,
                    errors=errors, latency=latency, metrics=m, product=product,
                    search_max=max([d.found + d.empty for d in product.search_days] or [1]) or 1,
                    active_max=max([d.users for d in product.active_days] or [1]) or 1,
                    views_max=max([e.views for e in product.top_events] or [1]) or 1)
