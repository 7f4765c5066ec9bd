"""The webhook event payload, versioned, and its place in OpenAPI's ``webhooks`` section.

``engine.alerts.channels.webhook`` builds the body; these Structs document it (and a test
decodes real deliveries with them, so the two cannot drift apart unnoticed).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)

if TYPE_CHECKING:
    from litestar import Litestar

#: the payload schema's version; a change that could break a receiver gets a new date
API_VERSION = "2026-12-01"


class AlertPayload(msgspec.Struct):
    """One match of one alert rule."""

    match_id: int
    rule_id: int | None
    kind: str
    event_id: int | None
    event_name: str | None
    starts_at: datetime | None
    venue: str | None
    marketplace: str | None
    listing_id: str | None
    section: str | None
    row: str | None
    quantity: int | None
    old_total_cents: int | None
    total_cents: int | None
    reference_cents: int | None
    deal_score: float | None
    observed_at: datetime | None
    url: str | None
    threshold_cents: int | None = None
    drop_percent: float | None = None
    min_deal_score: float | None = None
    near_percent: float | None = None
    drop_count: int | None = None
    low_window_seconds: int | None = None
    sections: list[str] | None = None  # new_low / near_low / keeps_dropping: in these sections


class WebhookData(msgspec.Struct):
    alerts: list[AlertPayload]


class WebhookEvent(msgspec.Struct):
    """What a ``json`` endpoint receives. ``id`` is the idempotency id (the
    ``Ripcity-Webhook-Id`` header): retries repeat it, a receiver drops repeats."""

    id: str
    type: Literal["alert.triggered", "endpoint.test"]
    api_version: Literal["2026-12-01"]
    created: int
    data: WebhookData


_SIGNATURE_DOC = (
    "`t=<unix seconds>,v1=<hex>`: v1 = HMAC-SHA256(endpoint secret, `<t>.<raw body>`). "
    "Recompute it over the raw body, compare in constant time with every `v1` (during a "
    "secret rotation the previous secret signs a second `v1`), and reject a `t` more than "
    "5 minutes away from your clock.")


def document_webhooks(app: Litestar) -> None:
    """Add the ``webhooks`` entries and the schemas they reference to the app's OpenAPI
    document (call once, after the app is built)."""
    from litestar._openapi.plugin import OpenAPIPlugin

    openapi = app.plugins.get(OpenAPIPlugin).provide_openapi()
    hooks, components = _webhooks()
    openapi.webhooks = hooks  # type: ignore[assignment]
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas.update(components)


def _webhooks() -> tuple[dict[str, PathItem], dict[str, Any]]:
    """OpenAPI ``webhooks`` entries and the component schemas they reference."""
    (ref,), components = msgspec.json.schema_components(
        [WebhookEvent], ref_template="#/components/schemas/{name}")
    headers = [
        Parameter(name="Ripcity-Signature", param_in="header", required=True,  # type: ignore[arg-type]
                  description=_SIGNATURE_DOC, schema=Schema(type="string")),  # type: ignore[arg-type]
        Parameter(name="Ripcity-Webhook-Id", param_in="header", required=True,  # type: ignore[arg-type]
                  description="the event's id; the same on every retry",
                  schema=Schema(type="string")),  # type: ignore[arg-type]
    ]
    ok = {"2XX": OpenAPIResponse(description="Delivered. Anything else (and no answer "
                                 "within 10 s) is retried with exponential backoff for about "
                                 "8 hours, then the endpoint is disabled and its owner "
                                 "emailed; 410 Gone disables it at once.")}
    body = RequestBody(required=True, content={"application/json": OpenAPIMediaType(
        schema=Reference(ref=ref["$ref"]))})
    hooks = {
        kind: PathItem(post=Operation(
            summary=summary, description=desc + " Slack and Discord endpoints get "
            "`{\"text\": ...}` / `{\"content\": ...}` instead.", parameters=headers,
            request_body=body, responses=ok))
        for kind, summary, desc in (
            ("alert.triggered", "An alert rule matched",
             "Sent to every enabled endpoint of the rule's owner that lists "
             "`alert.triggered`, for rules with the `webhook` channel; exactly once per "
             "(rule, listing, price) per endpoint."),
            ("endpoint.test", "A test event",
             "Sent by POST /api/v1/webhook-endpoints/{id}/test; `data.alerts` is empty."))
    }
    return hooks, components  # type: ignore[return-value]
