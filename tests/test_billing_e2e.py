"""Billing end to end: the API on real HTTP, a real database, the official Stripe SDK talking
to a local server in Stripe's wire format, webhooks signed with Stripe's scheme, and a real
SMTP server catching the emails.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from engine.settings import load_settings
from sandbox.vendors.stripe_api import FakeStripe, sign
from tests.fixtures_api import ServerThread, fresh_database, new_user


class MailSink:
    """An SMTP server on a free port that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(email.message_from_bytes(
            envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def __enter__(self) -> MailSink:
        self.thread.start()
        server = asyncio.run_coroutine_threadsafe(self.loop.create_server(
            lambda: SMTP(self), host="127.0.0.1", port=0), self.loop).result(10)
        self.server = server
        self.port = server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def to(self, address: str) -> list[email.message.EmailMessage]:
        """The billing notices sent to ``address`` (not the sign-up confirmation)."""
        return [m for m in self.messages if m["To"] == address
                and "Confirm your email" not in str(m["Subject"])]


class Billing:
    """Everything a billing test touches."""

    def __init__(self, http: httpx.Client, fake: FakeStripe, mail: MailSink, db_url: str,
                 base: str) -> None:
        self.http, self.fake, self.mail, self.db_url, self.base = http, fake, mail, db_url, base

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            cur = conn.execute(query, args)
            return cur.fetchall() if cur.description else []

    def premium_user(self) -> tuple[dict[str, Any], str]:
        """A user who upgraded through Checkout; returns (user, subscription id)."""
        user = new_user(self.http, inbox=self.mail)
        r = self.http.post("/api/v1/billing/checkout", json={"interval": "monthly"},
                           headers=user["headers"])
        assert r.status_code == 201, r.text
        self.fake.complete_checkout(r.json()["session_id"])
        self.fake.flush()
        (sub_id,) = self.sql("SELECT stripe_subscription_id FROM subscriptions "
                             "WHERE user_id = %s", user["id"])[0]
        return user, sub_id

    def plan(self, user: dict[str, Any]) -> str:
        r = self.http.get("/api/v1/billing/", headers=user["headers"])
        assert r.status_code == 200, r.text
        return str(r.json()["plan"]["name"])

    def sms_rule(self, user: dict[str, Any]) -> httpx.Response:
        return self.http.post("/api/v1/alert-rules", headers=user["headers"], json={
            "kind": "drop_percent", "performer": "Portland Trail Blazers", "drop_percent": 10,
            "channels": ["sms", "email"]})


@pytest.fixture(scope="module")
def billing(api_template_db: str) -> Iterator[Billing]:
    from api.app import create_app

    with fresh_database(api_template_db) as db_url, MailSink() as mail, FakeStripe() as fake:
        settings = load_settings(
            STRIPE_API_KEY=fake.api_key, STRIPE_WEBHOOK_SECRET=fake.webhook_secret,
            STRIPE_API_BASE=fake.url, STRIPE_PRICE_MONTHLY="price_premium_monthly",
            STRIPE_PRICE_ANNUAL="price_premium_annual", RIPCITY_SMTP_HOST="127.0.0.1",
            RIPCITY_SMTP_PORT=mail.port, RIPCITY_BILLING_GRACE_DAYS=7,
            RIPCITY_BILLING_SWEEP_SECONDS=0.2,
            RIPCITY_PUBLIC_URL="http://ripcity.test", RIPCITY_REDIS_URL="")
        with ServerThread(create_app(settings, db_url=db_url)) as base, \
                httpx.Client(base_url=base, timeout=30) as http:
            fake.webhook_url = f"{base}/webhooks/stripe"
            yield Billing(http, fake, mail, db_url, base)


def test_upgrade_through_checkout_applies_premium_limits(billing: Billing) -> None:
    user = new_user(billing.http, inbox=billing.mail)
    assert billing.plan(user) == "free"
    refused = billing.sms_rule(user)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["upgrade_url"] == "/api/v1/billing/checkout"

    link = billing.http.get("/api/v1/billing/checkout?interval=monthly",
                            headers=user["headers"])
    assert link.status_code == 303 and link.headers["location"].startswith(billing.fake.url)
    r = billing.http.post("/api/v1/billing/checkout", json={"interval": "annual"},
                          headers=user["headers"])
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith(billing.fake.url)
    # the customer pays on Stripe's hosted page, which redirects back to us
    paid = httpx.get(url, follow_redirects=False)
    assert paid.status_code == 303
    assert paid.headers["location"].startswith("http://ripcity.test/billing?checkout=success")
    billing.fake.flush()
    assert all(status == 200 for _, status, _ in billing.fake.deliveries), \
        billing.fake.deliveries

    state = billing.http.get("/api/v1/billing/", headers=user["headers"]).json()
    assert state["plan"]["name"] == "premium"
    assert state["plan"]["sms_alerts"] is True
    assert state["subscription"]["status"] == "active"
    assert state["subscription"]["interval"] == "year"
    assert state["upgrade_url"] is None
    assert billing.sms_rule(user).status_code == 201
    for i in range(6):  # the free plan stops at 5 watchlists
        r = billing.http.post("/api/v1/watchlists", headers=user["headers"],
                              json={"kind": "performer", "performer": f"Band {i}"})
        assert r.status_code == 201, r.text

    # one Stripe customer per user, however often they open checkout or the portal
    r = billing.http.post("/api/v1/billing/portal", headers=user["headers"])
    assert r.status_code == 201 and r.json()["url"].startswith(billing.fake.url)
    again = billing.http.post("/api/v1/billing/checkout", headers=user["headers"])
    assert again.status_code == 409, again.text
    assert len([c for c in billing.fake.customers.values()
                if c["email"] == user["email"]]) == 1


def test_cancel_at_period_end_keeps_premium_until_then(billing: Billing) -> None:
    user, sub_id = billing.premium_user()
    r = billing.http.post("/api/v1/billing/subscription/cancel", headers=user["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["cancel_at_period_end"] is True
    billing.fake.flush()
    state = billing.http.get("/api/v1/billing/", headers=user["headers"]).json()
    assert state["plan"]["name"] == "premium"
    assert state["subscription"]["cancel_at_period_end"] is True

    billing.fake.end_period(sub_id)
    billing.fake.flush()
    assert billing.plan(user) == "free"
    assert billing.sms_rule(user).status_code == 403
    (downgraded,) = billing.mail.to(user["email"])
    assert "free plan" in downgraded["Subject"]


def test_payment_failure_grace_then_free_with_email(billing: Billing) -> None:
    user, sub_id = billing.premium_user()
    billing.fake.advance(30 * 86_400)  # the renewal, a month later
    billing.fake.fail_payment(sub_id)
    billing.fake.flush()
    state = billing.http.get("/api/v1/billing/", headers=user["headers"]).json()
    assert state["plan"]["name"] == "premium"  # inside the grace period
    assert state["subscription"]["status"] == "past_due"
    assert state["subscription"]["grace_until"] is not None
    (warning,) = billing.mail.to(user["email"])
    assert "payment failed" in warning["Subject"]
    assert "/api/v1/billing/portal" in warning.get_content()

    # a retry fails again: still one warning, same deadline
    billing.fake.fail_payment(sub_id)
    billing.fake.flush()
    assert len(billing.mail.to(user["email"])) == 1

    # seven days pass without a payment: the API's background sweeper downgrades the account
    billing.sql("UPDATE subscriptions SET grace_until = now() - interval '1 minute' "
                "WHERE stripe_subscription_id = %s", sub_id)
    for _ in range(200):
        if billing.sql("SELECT plan FROM users WHERE id = %s", user["id"]) == [("free",)]:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the billing sweeper did not move the account to free within 10 s")
    state = billing.http.get("/api/v1/billing/", headers=user["headers"]).json()
    assert state["subscription"]["status"] == "unpaid"
    assert billing.plan(user) == "free"
    refused = billing.sms_rule(user)
    assert refused.status_code == 403 and "upgrade" in refused.json()["detail"].lower()
    subjects = [m["Subject"] for m in billing.mail.to(user["email"])]
    assert len(subjects) == 2 and "free plan" in subjects[1]

    # the card is fixed later: premium again
    billing.fake.pay_invoice(sub_id)
    billing.fake.flush()
    assert billing.plan(user) == "premium"


def test_duplicate_and_out_of_order_webhooks(billing: Billing) -> None:
    user, sub_id = billing.premium_user()
    fake = billing.fake
    fake.webhook_url, url = None, fake.webhook_url  # hold deliveries; the test sends them
    try:
        fake.advance(60)
        (updated,) = [e for e in fake.fail_payment(sub_id)
                      if e["type"] == "customer.subscription.updated"]
        fake.advance(60)
        recovered = fake.pay_invoice(sub_id)
        fake.advance(60)
        sub = fake.subscriptions[sub_id]
        sub["cancel_at_period_end"] = True
        fake.end_period(sub_id)
        (deleted,) = [e for e in fake.events if e["type"] == "customer.subscription.deleted"
                      and e["data"]["object"]["id"] == sub_id]
    finally:
        fake.webhook_url = url

    # newest first: the subscription ended; every older event that follows is stale
    assert fake.deliver(deleted).json()["outcome"] == "applied"
    assert billing.plan(user) == "free"
    for event in [*recovered, updated]:
        r = fake.deliver(event)
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] in ("stale", "applied"), r.text
    assert billing.plan(user) == "free"
    (status,) = billing.sql("SELECT stripe_status FROM subscriptions "
                            "WHERE stripe_subscription_id = %s", sub_id)[0]
    assert status == "canceled"

    # a duplicate delivery is acknowledged and not applied again
    again = fake.deliver(deleted)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    (n,) = billing.sql("SELECT count(*) FROM stripe_events WHERE id = %s", deleted["id"])[0]
    assert n == 1


def test_forged_replayed_and_malformed_webhooks_change_nothing(billing: Billing) -> None:
    user, sub_id = billing.premium_user()
    fake = billing.fake
    fake.webhook_url, url = None, fake.webhook_url
    try:
        fake.subscriptions[sub_id]["cancel_at_period_end"] = True
        (deleted,) = fake.end_period(sub_id)
    finally:
        fake.webhook_url = url
    before = billing.sql("SELECT count(*) FROM stripe_events")

    forged = fake.deliver(deleted, secret="whsec_not_the_secret")
    assert forged.status_code == 400
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert "signature" in forged.json()["detail"].lower()

    tampered_body = fake.payload(deleted).replace(b'"canceled"', b'"active"')
    tampered = fake.deliver(deleted, body=tampered_body,
                            signature=sign(fake.payload(deleted), fake.webhook_secret))
    assert tampered.status_code == 400

    replayed = fake.deliver(deleted, timestamp=int(time.time()) - 3600)
    assert replayed.status_code == 400
    assert "tolerance" in replayed.json()["detail"]

    unsigned = httpx.post(url, content=fake.payload(deleted))
    assert unsigned.status_code == 400 and "Stripe-Signature" in unsigned.json()["detail"]

    big = fake.deliver({"id": "x"}, body=b"[" + b"0," * 100_000 + b"0]")  # > 64 KiB is fine
    assert big.status_code == 400 and "JSON object" in big.json()["detail"]
    garbage = fake.deliver({"id": "x"}, body=b"{not json")
    assert garbage.status_code == 400 and "JSON" in garbage.json()["detail"]
    not_event = fake.deliver({"id": "x"}, body=json.dumps({"hello": "world"}).encode())
    assert not_event.status_code == 400 and "data.object" in not_event.json()["detail"]

    assert billing.sql("SELECT count(*) FROM stripe_events") == before
    assert billing.plan(user) == "premium"
    assert fake.deliver(deleted).status_code == 200  # the genuine one still works
    assert billing.plan(user) == "free"


def test_refunds_and_disputes_are_logged(billing: Billing) -> None:
    user, sub_id = billing.premium_user()
    billing.fake.refund(sub_id)
    billing.fake.dispute(sub_id)
    billing.fake.flush()
    rows = billing.sql("SELECT kind, amount_cents, reason FROM billing_incidents "
                       "WHERE user_id = %s ORDER BY id", user["id"])
    assert rows == [("refund", 999, None), ("dispute", 999, "fraudulent")]
    assert billing.plan(user) == "premium"  # logged for people, not acted on


def test_without_stripe_keys_billing_is_503_and_the_rest_works(
        api_template_db: str) -> None:
    from api.app import create_app

    settings = load_settings(STRIPE_API_KEY="", STRIPE_WEBHOOK_SECRET="", RIPCITY_REDIS_URL="")
    with fresh_database(api_template_db) as db_url, \
            ServerThread(create_app(settings, db_url=db_url)) as base, \
            httpx.Client(base_url=base, timeout=30) as http:
        user = new_user(http)
        r = http.post("/api/v1/billing/checkout", headers=user["headers"])
        assert r.status_code == 503
        assert "STRIPE_API_KEY" in r.json()["detail"]
        r = http.post("/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1"})
        assert r.status_code == 503 and "STRIPE_WEBHOOK_SECRET" in r.json()["detail"]
        catalog = http.get("/api/v1/billing/plans").json()
        assert catalog["billing_enabled"] is False
        assert [p["name"] for p in catalog["plans"]] == ["free", "premium"]
        assert http.get("/api/v1/billing/", headers=user["headers"]).json()["plan"]["name"] \
            == "free"
        r = http.post("/api/v1/watchlists", headers=user["headers"],
                      json={"kind": "performer", "performer": "Portland Trail Blazers"})
        assert r.status_code == 201, r.text


def test_upgrade_events_in_any_order_and_concurrent_duplicates(billing: Billing) -> None:
    fake = billing.fake
    user = new_user(billing.http, inbox=billing.mail)
    r = billing.http.post("/api/v1/billing/checkout", headers=user["headers"])
    assert r.status_code == 201, r.text
    fake.webhook_url, url = None, fake.webhook_url
    try:
        created, paid, completed = fake.complete_checkout(r.json()["session_id"])
        fake.advance(30 * 86_400)
        failed, _ = fake.fail_payment(created["data"]["object"]["id"])
    finally:
        fake.webhook_url = url

    # the invoice arrives before any subscription event: the subscription is read from Stripe
    assert fake.deliver(paid).json()["outcome"] == "applied"
    assert billing.plan(user) == "premium"
    for event in (completed, created):
        r = fake.deliver(event)
        assert r.status_code == 200 and r.json()["outcome"] in ("applied", "stale"), r.text
    assert billing.plan(user) == "premium"

    # Stripe retries while the first delivery is still being processed
    outcomes: list[str] = []
    threads = [threading.Thread(target=lambda: outcomes.append(
        fake.deliver(failed).json()["outcome"])) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["applied", "duplicate", "duplicate"]
    assert len(billing.mail.to(user["email"])) == 1  # one payment-failed email


def test_deleting_an_account_ends_its_subscription_first(billing: Billing) -> None:
    user, sub_id = billing.premium_user()
    seen = len(billing.fake.deliveries)
    r = billing.http.request("DELETE", "/api/v1/account", headers=user["headers"],
                             json={"password": user["password"]})
    assert r.status_code == 204, r.text
    assert ("DELETE", f"/v1/subscriptions/{sub_id}") in billing.fake.requests
    assert billing.fake.subscriptions[sub_id]["status"] == "canceled"  # no more charges
    assert billing.sql("SELECT count(*) FROM users WHERE id = %s", user["id"]) == [(0,)]
    billing.fake.flush()  # Stripe's subscription.deleted for a deleted account is fine
    assert all(status == 200 for _, status, _ in billing.fake.deliveries[seen:])


def test_account_deletion_waits_while_stripe_is_unreachable(billing: Billing) -> None:
    import socket

    from api.app import create_app

    user, sub_id = billing.premium_user()
    with socket.socket() as s:  # a port nothing listens on: Stripe is down
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    settings = load_settings(STRIPE_API_KEY=billing.fake.api_key, STRIPE_API_BASE=dead,
                             STRIPE_WEBHOOK_SECRET=billing.fake.webhook_secret,
                             RIPCITY_REDIS_URL="")
    with ServerThread(create_app(settings, db_url=billing.db_url)) as base:
        r = httpx.request("DELETE", f"{base}/api/v1/account", headers=user["headers"],
                          json={"password": user["password"]}, timeout=60)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "not deleted" in r.json()["detail"] and "retry" in r.json()["detail"]
    assert billing.sql("SELECT count(*) FROM users WHERE id = %s", user["id"]) == [(1,)]
    assert billing.fake.subscriptions[sub_id]["status"] == "active"
    # Stripe is back: the same request goes through and billing stops
    assert billing.http.request("DELETE", "/api/v1/account", headers=user["headers"],
                                json={"password": user["password"]}).status_code == 204
    assert billing.fake.subscriptions[sub_id]["status"] == "canceled"
