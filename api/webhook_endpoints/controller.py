"""The caller's webhook endpoints: create (the secret is shown once), change, delete,
rotate the secret with an overlap, send a test event, read the delivery log."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from api.lib.deps import RuntimeDep, UserDep
from api.lib.pagination import encode_cursor, id_after
from api.lib.params import Cursor, Limit
from api.plans import UPGRADE_PATH
from api.webhook_endpoints.schemas import (
    RotateIn,
    TestEvent,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookEndpoint,
    WebhookEndpointIn,
    WebhookEndpointPatch,
    WebhookEndpointSecret,
)
from storage import webhook_endpoints as store
from storage.webhook_urls import check_webhook_url

EndpointId = Annotated[int, Parameter(ge=1, le=2**62, description="webhook endpoint id")]


def _endpoint(row: store.Endpoint) -> WebhookEndpoint:
    return msgspec.convert(row, WebhookEndpoint, from_attributes=True)


async def check_url(url: str, runtime: Any) -> None:
    """The SSRF guard (DNS resolution off the event loop); a 422 naming the address."""
    await asyncio.to_thread(check_webhook_url, url,
                            allow_private=runtime.settings.webhook_allow_private_targets)


class WebhookEndpointController(Controller):
    path = "/webhook-endpoints"
    tags = ["webhooks"]

    @get("/", summary="Your webhook endpoints")
    async def list_endpoints(self, user: UserDep, runtime: RuntimeDep) -> list[WebhookEndpoint]:
        async with runtime.pool.connection() as conn:
            return [_endpoint(r) for r in await store.list_endpoints(conn, user.user_id)]

    @post("/", summary="Add a webhook endpoint")
    async def create(self, data: JSONBody[WebhookEndpointIn], user: UserDep,
                     runtime: RuntimeDep) -> WebhookEndpointSecret:
        """The answer carries the endpoint's signing secret: the only time it is shown.
        Alert rules with the `webhook` channel deliver to every enabled endpoint listing
        `alert.triggered`; the payload and signature are in this document's `webhooks`.
        Free accounts keep one endpoint, premium ten (`api/plans.py`)."""
        await check_url(data.url, runtime)
        async with runtime.pool.connection() as conn, conn.transaction():
            row, secret = await store.create(
                conn, user.user_id, url=data.url, description=data.description,
                events=sorted(set(data.events)), fmt=data.format,
                allowed=user.plan.max_webhook_endpoints, plan=user.plan.name,
                upgrade_url=UPGRADE_PATH)
        return WebhookEndpointSecret(endpoint=_endpoint(row), secret=secret)

    @get("/{endpoint_id:int}", summary="One of your webhook endpoints")
    async def get_endpoint(self, endpoint_id: EndpointId, user: UserDep,
                           runtime: RuntimeDep) -> WebhookEndpoint:
        async with runtime.pool.connection() as conn:
            return _endpoint(await store.get(conn, user.user_id, endpoint_id))

    @patch("/{endpoint_id:int}", summary="Change or re-enable a webhook endpoint")
    async def update(self, endpoint_id: EndpointId, data: JSONBody[WebhookEndpointPatch],
                     user: UserDep, runtime: RuntimeDep) -> WebhookEndpoint:
        if data.url is not None:
            await check_url(data.url, runtime)
        async with runtime.pool.connection() as conn:
            return _endpoint(await store.update(
                conn, user.user_id, endpoint_id, url=data.url, description=data.description,
                events=sorted(set(data.events)) if data.events else None, fmt=data.format,
                enabled=data.enabled))

    @delete("/{endpoint_id:int}", summary="Delete a webhook endpoint",
            status_code=HTTP_204_NO_CONTENT)
    async def remove(self, endpoint_id: EndpointId, user: UserDep,
                     runtime: RuntimeDep) -> None:
        async with runtime.pool.connection() as conn:
            await store.delete(conn, user.user_id, endpoint_id)

    @post("/{endpoint_id:int}/rotate-secret", summary="Rotate the signing secret")
    async def rotate(self, endpoint_id: EndpointId, data: JSONBody[RotateIn], user: UserDep,
                     runtime: RuntimeDep) -> WebhookEndpointSecret:
        """A new secret, shown once; the old one keeps signing beside it (a second `v1`)
        for `overlap_seconds` (default one day; send `{}`) so receivers switch without a
        gap."""
        overlap = data.overlap_seconds
        async with runtime.pool.connection() as conn:
            row, secret = await store.rotate(conn, user.user_id, endpoint_id, overlap)
        return WebhookEndpointSecret(endpoint=_endpoint(row), secret=secret)

    @post("/{endpoint_id:int}/test", summary="Send a test event",
          status_code=HTTP_202_ACCEPTED)
    async def send_test(self, endpoint_id: EndpointId, user: UserDep,
                        runtime: RuntimeDep) -> TestEvent:
        """Queues an `endpoint.test` event through the alert dispatcher (signed, logged and
        retried like an alert); its delivery shows in the log."""
        async with runtime.pool.connection() as conn, conn.transaction():
            return TestEvent(webhook_id=await store.send_test(conn, user.user_id, endpoint_id))

    @get("/{endpoint_id:int}/deliveries", summary="The endpoint's delivery log")
    async def deliveries(self, request: Request[Any, Any, Any], endpoint_id: EndpointId,
                         user: UserDep, runtime: RuntimeDep, limit: Limit = 50,
                         cursor: Cursor = None) -> WebhookDeliveryPage:
        """Every HTTP attempt, newest first: status code, response time, error."""
        before = id_after(cursor)
        async with runtime.pool.connection() as conn:
            rows = await store.deliveries(conn, user.user_id, endpoint_id, limit, before)
        nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return WebhookDeliveryPage(
            items=[msgspec.convert(r, WebhookDelivery, from_attributes=True)
                   for r in rows[:limit]], next_cursor=nxt)
