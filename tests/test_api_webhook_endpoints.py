"""Webhook endpoints over REST: the secret shown once, the SSRF guard, the plan limit,
rotation, and "send test event" delivered signed through the real dispatcher to a receiver
on 127.0.0.1, with the attempt in the delivery log; the payload as OpenAPI documents it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from api.webhook_endpoints.events import WebhookEvent
from sandbox.vendors.webhook_receiver import WebhookReceiver
from tests.fixtures_api import ServerThread, new_user

V1 = "/api/v1"
ENDPOINTS = f"{V1}/webhook-endpoints"


@pytest.fixture(scope="module")
def api_base_url(api_world: Any) -> Iterator[str]:
    """The API with private webhook targets allowed (the receiver is on 127.0.0.1)."""
    from api.app import create_app
    from engine.settings import load_settings

    settings = load_settings(RIPCITY_WEBHOOK_ALLOW_PRIVATE_TARGETS="true")
    with ServerThread(create_app(settings, db_url=api_world.db_url)) as base:
        yield base


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


def test_create_shows_the_secret_once_and_lists_without_it(http: Any) -> None:
    h = new_user(http)["headers"]
    made = http.post(ENDPOINTS, headers=h, json={"url": "http://127.0.0.1:9/hook",
                                                 "description": "my bot", "format": "slack"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40
    ep = body["endpoint"]
    assert (ep["format"], ep["events"], ep["enabled"]) == ("slack", ["alert.triggered"], True)
    listed = http.get(ENDPOINTS, headers=h)
    assert listed.status_code == 200 and "secret" not in listed.text
    assert body["secret"] not in http.get(f"{ENDPOINTS}/{ep['id']}", headers=h).text
    # the free plan keeps one endpoint
    second = http.post(ENDPOINTS, headers=h, json={"url": "http://127.0.0.1:9/other"})
    assert second.status_code == 403 and "1 webhook endpoint" in second.json()["detail"]
    bad = http.post(ENDPOINTS, headers=h, json={"url": "ftp://example.com/x"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "url"
    assert http.get(ENDPOINTS).status_code == 401
    other = new_user(http)["headers"]
    assert http.get(f"{ENDPOINTS}/{ep['id']}", headers=other).status_code == 404


def test_private_addresses_are_refused_by_default(api_world: Any, http: Any) -> None:
    from api.app import create_app

    with ServerThread(create_app(db_url=api_world.db_url)) as base:
        import httpx

        with httpx.Client(base_url=base, timeout=20) as client:
            h = new_user(client)["headers"]
            for url in ("http://127.0.0.1:8080/x", "http://169.254.169.254/latest/meta-data",
                        "http://10.0.0.5/hook", "http://[::1]/x"):
                r = client.post(ENDPOINTS, headers=h, json={"url": url})
                assert r.status_code == 422, (url, r.text)
                assert "address" in r.json()["detail"] or "metadata" in r.json()["detail"]


def test_test_event_is_delivered_signed_and_logged(
        http: Any, api_world: Any, receiver: WebhookReceiver) -> None:
    from engine.alerts.dispatcher import Dispatcher, DispatchOptions, build_senders
    from engine.settings import load_settings

    h = new_user(http)["headers"]
    made = http.post(ENDPOINTS, headers=h, json={"url": receiver.url}).json()
    eid, receiver.secret = made["endpoint"]["id"], made["secret"]
    queued = http.post(f"{ENDPOINTS}/{eid}/test", headers=h)
    assert queued.status_code == 202
    settings = load_settings(RIPCITY_WEBHOOK_ALLOW_PRIVATE_TARGETS="true")
    d = Dispatcher(api_world.db_url, build_senders(settings, ["webhook"], api_world.db_url),
                   DispatchOptions(coalesce_seconds=0))
    try:
        while d.run_once():
            pass
    finally:
        d.close()
    [got] = receiver.wait_for(1)
    assert got.verified
    event = msgspec.json.decode(got.body, type=WebhookEvent)  # the documented schema
    assert event.type == "endpoint.test" and event.id == queued.json()["webhook_id"]
    log = http.get(f"{ENDPOINTS}/{eid}/deliveries", headers=h).json()["items"]
    assert [(x["status_code"], x["ok"], x["event_type"]) for x in log] == \
        [(200, True, "endpoint.test")]
    assert log[0]["response_ms"] >= 0

    # rotation: a new secret, the old one kept for the overlap
    rotated = http.post(f"{ENDPOINTS}/{eid}/rotate-secret", headers=h,
                        json={"overlap_seconds": 3600})
    assert rotated.status_code == 201
    assert rotated.json()["secret"] != made["secret"]
    assert rotated.json()["endpoint"]["previous_expires_at"] is not None
    # disable, then enable again
    off = http.patch(f"{ENDPOINTS}/{eid}", headers=h, json={"enabled": False}).json()
    assert off["enabled"] is False
    assert http.delete(f"{ENDPOINTS}/{eid}", headers=h).status_code == 204
    assert http.get(f"{ENDPOINTS}/{eid}", headers=h).status_code == 404


def test_openapi_documents_the_webhook_payload(http: Any) -> None:
    doc = http.get("/schema/openapi.json").json()
    hook = doc["webhooks"]["alert.triggered"]["post"]
    assert hook["requestBody"]["content"]["application/json"]["schema"]["$ref"] == \
        "#/components/schemas/WebhookEvent"
    assert "HMAC-SHA256" in str(hook["parameters"])
    event = doc["components"]["schemas"]["WebhookEvent"]
    assert {"id", "type", "api_version", "data"} <= set(event["properties"])
    assert "AlertPayload" in doc["components"]["schemas"]
    rule = doc["components"]["schemas"]["AlertRuleIn"]["properties"]
    assert {"near_percent", "drop_count", "low_window_seconds"} <= set(rule)
