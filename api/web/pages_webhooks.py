"""Webhook endpoints on the dashboard: add one (its secret shown once), send a test event,
rotate the secret, pause or resume, delete, and the delivery log with status codes and
response times. The same storage calls and SSRF guard as ``/api/v1/webhook-endpoints``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.lib.replicas import reads_of
from api.plans import UPGRADE_PATH
from api.web.common import need_user, page, read_form, redirect, runtime_of
from api.web.failures import REFUSED, refusal
from api.webhook_endpoints.controller import check_url
from storage import webhook_endpoints as store

_BACK = "/account/webhooks"


async def _render(request: Request[Any, Any, Any], *, new_secret: str | None = None,
                  new_for: int | None = None) -> Template:
    user = need_user(request)
    async with reads_of(request).connection() as conn:
        endpoints = await store.list_endpoints(conn, user.user_id)
        log = {e.id: await store.deliveries(conn, user.user_id, e.id, 10) for e in endpoints}
    return page(request, "webhooks.html", title="Webhooks", endpoints=endpoints, log=log,
                new_secret=new_secret, new_for=new_for,
                allowed=user.plan.max_webhook_endpoints)


class WebhookPages(Controller):
    include_in_schema = False

    @get(_BACK, name="web:webhooks")
    async def endpoints(self, request: Request[Any, Any, Any]) -> Template:
        return await _render(request)

    @post(_BACK)
    async def create(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await read_form(request)
        user = need_user(request)
        runtime = runtime_of(request)
        fmt = form.get("format") or "json"
        try:
            if fmt not in ("json", "slack", "discord"):
                raise ValueError
            await check_url(form.get("url"), runtime)
            async with runtime.pool.connection() as conn, conn.transaction():
                ep, secret = await store.create(
                    conn, user.user_id, url=form.get("url"),
                    description=form.get("description")[:200] or None,
                    events=["alert.triggered"], fmt=fmt,
                    allowed=user.plan.max_webhook_endpoints, plan=user.plan.name,
                    upgrade_url=UPGRADE_PATH)
        except REFUSED as err:
            return redirect(_BACK, refusal(err), error=True)
        except ValueError:
            return redirect(_BACK, "Choose JSON, Slack or Discord.", error=True)
        return await _render(request, new_secret=secret, new_for=ep.id)

    @post(_BACK + "/{endpoint_id:int}/{action:str}")
    async def act(self, request: Request[Any, Any, Any], endpoint_id: FromPath[int],
                  action: FromPath[str]) -> Template | Redirect:
        await read_form(request)
        user = need_user(request)
        try:
            async with runtime_of(request).pool.connection() as conn, conn.transaction():
                if action == "test":
                    await store.send_test(conn, user.user_id, endpoint_id)
                    note = "Test event queued: its delivery shows below in a moment."
                elif action == "rotate":
                    _, secret = await store.rotate(conn, user.user_id, endpoint_id, 86_400)
                elif action in ("enable", "disable"):
                    await store.update(conn, user.user_id, endpoint_id,
                                       enabled=action == "enable")
                    note = f"Endpoint {action}d."
                elif action == "delete":
                    await store.delete(conn, user.user_id, endpoint_id)
                    note = "Endpoint deleted."
                else:
                    return redirect(_BACK, f"Unknown action {action!r}.", error=True)
        except REFUSED as err:
            return redirect(_BACK, refusal(err), error=True)
        if action == "rotate":
            return await _render(request, new_secret=secret, new_for=endpoint_id)
        return redirect(_BACK, note)
