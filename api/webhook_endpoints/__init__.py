"""Outgoing webhooks: the caller's endpoints (REST) and the documented event payload."""

from __future__ import annotations

from api.webhook_endpoints.controller import WebhookEndpointController
from api.webhook_endpoints.events import document_webhooks

__all__ = ["WebhookEndpointController", "document_webhooks"]
