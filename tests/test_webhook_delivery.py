"""The webhook channel: a matched alert reaches a receiver on 127.0.0.1 signed, exactly
once; a receiver that fails for a while gets it after it recovers; one that always fails is
disabled and its owner emailed; the SSRF guard; secret rotation; Slack/Discord presets.

Real write path, matcher, outbox and ``Dispatcher`` (``ripcity alerts dispatch``'s), real
HTTP to the receiver, real SMTP for the owner's email.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.alerts.channels.webhook import verify
from engine.alerts.dispatcher import Dispatcher, DispatchOptions, build_senders
from sandbox.vendors.smtp_inbox import SmtpBox
from sandbox.vendors.webhook_receiver import WebhookReceiver
from storage.webhook_endpoints import new_secret
from storage.webhook_urls import UnsafeUrl, check_webhook_url
from tests.fakes.alerts_world import AlertWorld


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(new_secret()).start()
    yield r
    r.stop()


@pytest.fixture
def dispatcher(db_url: str, smtp: SmtpBox) -> Iterator[Callable[..., Dispatcher]]:
    from engine.settings import load_settings

    made: list[Dispatcher] = []

    def make(allow_private: bool = True, max_attempts: int = 12) -> Dispatcher:
        settings = load_settings(
            RIPCITY_SMTP_HOST="127.0.0.1", RIPCITY_SMTP_PORT=str(smtp.port),
            RIPCITY_PUBLIC_URL="http://ripcity.test",
            RIPCITY_WEBHOOK_ALLOW_PRIVATE_TARGETS=str(allow_private).lower(),
            RIPCITY_WEBHOOK_MAX_ATTEMPTS=str(max_attempts),
            RIPCITY_WEBHOOK_BACKOFF_BASE="0.05", RIPCITY_WEBHOOK_BACKOFF_MAX="0.2",
            RIPCITY_WEBHOOK_TIMEOUT="5")
        d = Dispatcher(db_url, build_senders(settings, ["email", "webhook"], db_url),
                       DispatchOptions(coalesce_seconds=0))
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def _endpoint(world: AlertWorld, user_id: int, url: str, secret: str,
              fmt: str = "json") -> int:
    row = world.conn.execute(
        "INSERT INTO webhook_endpoints (user_id, url, secret, format) VALUES (%s, %s, %s, %s) "
        "RETURNING id", (user_id, url, secret, fmt)).fetchone()
    world.conn.commit()
    return int(row[0])


def _drop(world: AlertWorld, user_id: int) -> None:
    world.rule(user_id, "price_at_or_below", threshold_cents=10_000, channels=["webhook"])
    world.ingest([{"listing_id": "A", "price_cents": 9_500}])  # all-in 115
    world.ingest([{"listing_id": "A", "price_cents": 7_000}])  # all-in 90: matches


def _run_until(d: Dispatcher, done: Callable[[], bool], timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        d.run_once()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def _log(world: AlertWorld, eid: int) -> list[tuple[Any, ...]]:
    rows = world.conn.execute(
        "SELECT status_code, ok, error FROM webhook_deliveries WHERE endpoint_id = %s "
        "ORDER BY id", (eid,)).fetchall()
    world.conn.commit()
    return rows


def test_a_price_drop_is_delivered_signed_exactly_once(
        world: AlertWorld, receiver: WebhookReceiver, dispatcher: Any) -> None:
    u = world.user()
    eid = _endpoint(world, u, receiver.url, receiver.secret)
    _drop(world, u)
    d = dispatcher()
    while d.run_once():
        pass
    [got] = receiver.wait_for(1)
    assert got.verified  # the receiver's own copy of the documented recipe
    assert verify(got.signature, got.body, receiver.secret)  # and ours agrees
    assert not verify(got.signature, got.body + b" ", receiver.secret)
    event = got.json
    assert event["id"] == got.webhook_id and event["type"] == "alert.triggered"
    assert event["api_version"] == "2026-12-01"
    [alert] = event["data"]["alerts"]
    assert (alert["kind"], alert["total_cents"], alert["listing_id"]) == \
        ("price_at_or_below", 9_000, "A")
    # the same batch again and another dispatcher round: nothing more
    world.tick -= 1
    world.ingest([{"listing_id": "A", "price_cents": 7_000}])
    while d.run_once():
        pass
    time.sleep(0.2)
    assert len(receiver.deliveries) == 1
    assert _log(world, eid) == [(200, True, None)]


def test_a_receiver_that_fails_for_a_while_gets_it_after_recovering(
        world: AlertWorld, receiver: WebhookReceiver, dispatcher: Any) -> None:
    u = world.user()
    eid = _endpoint(world, u, receiver.url, receiver.secret)
    receiver.fail_next = 3
    _drop(world, u)
    d = dispatcher()
    _run_until(d, lambda: len(receiver.accepted()) == 1)
    ids = {x.webhook_id for x in receiver.deliveries}
    assert len(ids) == 1  # every retry carried the same id
    assert [c for c, _, _ in _log(world, eid)] == [503, 503, 503, 200]
    [row] = world.outbox(u)
    assert row["status"] == "sent" and row["attempts"] == 3


def test_an_endpoint_that_always_fails_is_disabled_and_the_owner_emailed(
        world: AlertWorld, receiver: WebhookReceiver, dispatcher: Any, smtp: SmtpBox) -> None:
    u = world.user("dev@example.com")
    eid = _endpoint(world, u, receiver.url, receiver.secret)
    receiver.fail_always = True
    _drop(world, u)
    d = dispatcher(max_attempts=3)
    _run_until(d, lambda: len(smtp.received) >= 1)
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == ["dev@example.com"]
    assert "Webhook endpoint disabled" in str(mail.message["Subject"])
    assert receiver.url in mail.message.get_body(("plain",)).get_content()
    assert len(receiver.deliveries) == 3
    assert _disabled(world, eid).startswith("gave up after 3 attempts: webhook")


def _disabled(world: AlertWorld, eid: int) -> str:
    row = world.conn.execute("SELECT enabled, disabled_reason FROM webhook_endpoints "
                             "WHERE id = %s", (eid,)).fetchone()
    world.conn.commit()
    return "" if row[0] else row[1]


def test_private_targets_are_refused_unless_the_operator_allows_them(
        world: AlertWorld, receiver: WebhookReceiver, dispatcher: Any) -> None:
    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://169.254.169.254/latest",
                "http://[::1]/x", "http://metadata.google.internal/x", "ftp://example.com/",
                "http://user:pw@example.com/"):
        with pytest.raises(UnsafeUrl):
            check_webhook_url(url, allow_private=False)
    assert check_webhook_url("http://127.0.0.1:9/x", allow_private=True) == ["127.0.0.1"]
    u = world.user()
    eid = _endpoint(world, u, receiver.url, receiver.secret)
    _drop(world, u)
    d = dispatcher(allow_private=False)  # checked again at send time
    while d.run_once():
        pass
    assert receiver.deliveries == []
    assert "loopback" in _disabled(world, eid)


def test_rotation_signs_with_both_secrets_during_the_overlap(
        world: AlertWorld, receiver: WebhookReceiver, dispatcher: Any) -> None:
    u = world.user()
    old = receiver.secret
    eid = _endpoint(world, u, receiver.url, old)
    new = new_secret()
    world.conn.execute("UPDATE webhook_endpoints SET previous_secret = secret, secret = %s, "
                       "previous_expires_at = now() + interval '1 hour' WHERE id = %s",
                       (new, eid))
    world.conn.commit()
    _drop(world, u)
    d = dispatcher()
    while d.run_once():
        pass
    [got] = receiver.wait_for(1)
    assert verify(got.signature, got.body, old) and verify(got.signature, got.body, new)
    assert got.signature.count("v1=") == 2


@pytest.mark.parametrize(("fmt", "field"), [("slack", "text"), ("discord", "content")])
def test_slack_and_discord_presets_get_chat_text(
        world: AlertWorld, receiver: WebhookReceiver, dispatcher: Any, fmt: str,
        field: str) -> None:
    u = world.user()
    _endpoint(world, u, receiver.url, receiver.secret, fmt)
    _drop(world, u)
    d = dispatcher()
    while d.run_once():
        pass
    [got] = receiver.wait_for(1)
    text = got.json[field]
    assert "Trail Blazers vs. Lakers" in text and "$90" in text
    assert "https://seatgeek.com/e/SG1" in text


def test_an_email_stuck_at_the_provider_does_not_hold_a_webhook_back(
        world: AlertWorld, receiver: WebhookReceiver, smtp: SmtpBox, dispatcher: Any) -> None:
    """A running dispatcher sends each channel in its own lane: while an email waits on a
    slow SMTP server, a later alert's webhook still goes out."""
    import threading

    fan = world.user("slow-mail@example.com")
    world.rule(fan, "price_at_or_below", threshold_cents=10_000, channels=["email"])
    coder = world.user("coder@example.com")
    _endpoint(world, coder, receiver.url, receiver.secret)
    world.rule(coder, "price_at_or_below", threshold_cents=5_000, channels=["webhook"])
    smtp.hold()
    d = dispatcher()
    stop = threading.Event()
    loop = threading.Thread(target=d.run, args=(stop,), daemon=True)
    loop.start()
    try:
        world.ingest([{"listing_id": "A", "price_cents": 7_000}])  # all-in 90: the email
        assert smtp.held.wait(15), "the email never reached the SMTP server"
        world.ingest([{"listing_id": "B", "price_cents": 3_000}])  # all-in 48: the webhook
        [got] = receiver.wait_for(1, timeout=15)
        assert got.verified
        assert [a["listing_id"] for a in got.json["data"]["alerts"]] == ["B"]
        assert smtp.received == []  # the email is still waiting at the provider
        smtp.release()
        mails = smtp.wait_for(1, timeout=15)
        # the held email goes out once released (B matches the fan's rule too: its alert is
        # a second email unless a dispatcher round coalesced the two)
        assert mails and {tuple(m.rcpt_tos) for m in mails} == {("slow-mail@example.com",)}
        keys = [m.header("X-Ripcity-Alert") for m in smtp.wait_for(2, timeout=3)]
        assert len(keys) == len(set(keys)), "an alert email was sent twice"
    finally:
        smtp.release()
        stop.set()
        loop.join(15)
    assert not loop.is_alive()


def test_a_name_that_resolves_to_loopback_is_refused_at_connect_unless_allowed(
        world: AlertWorld, receiver: WebhookReceiver, dispatcher: Any) -> None:
    """``localhost`` (127.0.0.1): refused when the operator setting is off -- the endpoint
    is disabled, nothing reaches the receiver --; delivered when it is on."""
    port = receiver.url.split(":")[2].split("/")[0]
    by_name = f"http://localhost:{port}/hooks/ripcity"
    refused, allowed = world.user("refused@example.com"), world.user("allowed@example.com")
    eid_refused = _endpoint(world, refused, by_name, receiver.secret)
    world.rule(refused, "price_at_or_below", threshold_cents=10_000, channels=["webhook"])
    world.ingest([{"listing_id": "A", "price_cents": 7_000}])
    d = dispatcher(allow_private=False)
    while d.run_once():
        pass
    assert receiver.deliveries == []
    assert "loopback" in _disabled(world, eid_refused)
    [(code, ok, error)] = _log(world, eid_refused)
    assert (code, ok) == (None, False) and "localhost resolves to" in error

    _endpoint(world, allowed, by_name, receiver.secret)
    world.rule(allowed, "price_at_or_below", threshold_cents=10_000, channels=["webhook"])
    world.ingest([{"listing_id": "B", "price_cents": 7_500}])
    d = dispatcher(allow_private=True)
    while d.run_once():
        pass
    [got] = receiver.wait_for(1)
    assert got.verified and got.json["data"]["alerts"][0]["listing_id"] == "B"


def test_the_connection_goes_to_the_address_that_was_checked(
        receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: however the name resolved when the URL was checked, the connection is
    opened to an address vetted in the connect itself, under the request's own host name."""
    import socket

    import httpx

    from engine.alerts.channels.vetted import VettedTransport

    real = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:  # rebound to loopback
        return real("127.0.0.1" if host == "rebind.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://rebind.test:{port}/hooks/ripcity"
    refusing = httpx.Client(transport=VettedTransport(allow_private=False,
                                                      limits=httpx.Limits()))
    with refusing, pytest.raises(UnsafeUrl, match=r"rebind\.test resolves to 127\.0\.0\.1"):
        refusing.post(url, content=b"{}")
    assert receiver.deliveries == []
    with httpx.Client(transport=VettedTransport(allow_private=True,
                                                limits=httpx.Limits())) as client:
        answer = client.post(url, content=b"{}", headers={"Ripcity-Webhook-Id": "w1"})
    assert answer.status_code == 200
    assert [d.webhook_id for d in receiver.deliveries] == ["w1"]
