"""What the webhook endpoint resources accept and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

EventType = Literal["alert.triggered", "endpoint.test"]
Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2000,
                                  description="http(s) URL resolving to a public address")]
Events = Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=2)]
Format = Annotated[Literal["json", "slack", "discord"], msgspec.Meta(
    description="json: the signed event (OpenAPI `webhooks`); slack / discord: the same "
    "alert as chat text for their incoming webhooks")]
Description = Annotated[str, msgspec.Meta(max_length=200)]


class WebhookEndpointIn(msgspec.Struct, forbid_unknown_fields=True):
    url: Url
    description: Description | None = None
    events: Events = msgspec.field(default_factory=lambda: ["alert.triggered"])
    format: Format = "json"


class WebhookEndpointPatch(msgspec.Struct, forbid_unknown_fields=True):
    url: Url | None = None
    description: Description | None = None
    events: Events | None = None
    format: Format | None = None
    enabled: bool | None = None


class WebhookEndpoint(msgspec.Struct):
    id: int
    url: str
    description: str | None
    events: list[str]
    format: str
    enabled: bool
    #: why we stopped sending (failures, 410 Gone, an unsafe address); enable to resume
    disabled_reason: str | None
    disabled_at: datetime | None
    #: the previous secret still signs until then (after a rotation)
    previous_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointSecret(msgspec.Struct):
    """Returned on creation and rotation only: keep ``secret``, it is not shown again."""

    endpoint: WebhookEndpoint
    secret: str


class RotateIn(msgspec.Struct, forbid_unknown_fields=True):
    overlap_seconds: Annotated[int, msgspec.Meta(
        ge=0, le=7 * 86400, description="how long the old secret keeps signing")] = 86400


class TestEvent(msgspec.Struct):
    webhook_id: str


class WebhookDelivery(msgspec.Struct):
    id: int
    webhook_id: str
    event_type: str
    attempt: int
    status_code: int | None
    response_ms: float | None
    ok: bool
    error: str | None
    attempted_at: datetime


class WebhookDeliveryPage(msgspec.Struct):
    items: list[WebhookDelivery]
    next_cursor: str | None
