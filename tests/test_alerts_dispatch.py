"""Delivery: email and SMS content, coalescing, quiet hours, caps, gating, failures,
and exactly-once when a dispatcher is killed mid-send."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.alerts.dispatcher import Dispatcher, DispatchOptions, build_senders
from sandbox.vendors.smtp_inbox import SmtpBox
from sandbox.vendors.twilio_api import FakeTwilio
from tests.fakes.alerts_world import AlertWorld
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
FROM = "+15035550000"


@pytest.fixture
def env(smtp: SmtpBox, twilio: FakeTwilio) -> dict[str, str]:
    return {"RIPCITY_SMTP_HOST": "127.0.0.1", "RIPCITY_SMTP_PORT": str(smtp.port),
            "TWILIO_ACCOUNT_SID": twilio.account_sid, "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM_NUMBER": FROM, "TWILIO_API_BASE": twilio.url,
            "RIPCITY_PUBLIC_URL": "http://ripcity.test", "RIPCITY_SECRET_KEY": "s3cret-key"}


@pytest.fixture
def dispatcher(db_url: str, env: dict[str, str]) -> Iterator[Any]:
    from engine.settings import load_settings

    made: list[Dispatcher] = []

    def make(**options: Any) -> Dispatcher:
        options.setdefault("coalesce_seconds", 0)
        d = Dispatcher(db_url, build_senders(load_settings(**env), ["email", "sms"]),
                       DispatchOptions(**options))
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def drain(d: Dispatcher) -> None:
    while d.run_once():
        pass


def test_email_has_text_html_price_link_and_one_click_unsubscribe(
        world: AlertWorld, dispatcher: Any, smtp: SmtpBox) -> None:
    u = world.user("fan@example.com")
    world.rule(u, "price_at_or_below", threshold_cents=10_000)
    world.ingest([{"listing_id": "A", "price_cents": 9_500, "fees_cents": 2_000}])
    world.ingest([{"listing_id": "A", "price_cents": 7_000, "fees_cents": 1_500}])
    drain(dispatcher())
    [got] = smtp.wait_for(1)
    msg = got.message
    assert got.rcpt_tos == ["fan@example.com"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    key = msg["X-Ripcity-Alert"]
    for part in (text, html):
        assert "$85" in part and "$115" in part  # the price and the change
        # where to buy: through the dashboard's tracked redirect to the marketplace page
        assert f"http://ripcity.test/t/{key}/go?e=" in part and "&m=seatgeek" in \
            part.replace("&amp;", "&")
        assert "Sec 112 Row 5" in part
    assert f"http://ripcity.test/t/{key}/open.gif" in html  # first-party open pixel
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsub = msg["List-Unsubscribe"].strip("<>")
    assert unsub.startswith("http://ripcity.test/alerts/unsubscribe?") and unsub in text
    [row] = world.outbox(u)
    assert row["status"] == "sent" and row["provider_id"] == msg["Message-ID"]


def test_matches_close_together_are_coalesced_into_one_message(
        world: AlertWorld, dispatcher: Any, smtp: SmtpBox) -> None:
    u = world.user()
    world.rule(u, "price_at_or_below", threshold_cents=50_000)
    world.rule(u, "new_listing_in_section", sections=["112"])
    world.ingest([{"listing_id": "A"}, {"listing_id": "B"}])  # 4 matches, one batch
    d = dispatcher(coalesce_seconds=3600)
    drain(d)
    assert len(smtp.wait_for(1)) == 1
    world.ingest([{"listing_id": "C"}])  # within the window: waits
    world.ingest([{"listing_id": "D"}])
    drain(d)
    assert len(smtp.received) == 1
    world.conn.execute("UPDATE alert_outbox SET next_attempt_at = now() "
                       "WHERE status = 'pending'")
    world.conn.execute("UPDATE alert_user_channels SET last_sent_at = now() - interval '2h'")
    world.conn.commit()
    drain(d)
    msgs = smtp.wait_for(2)
    assert len(msgs) == 2
    assert msgs[0].message["Subject"].startswith("4 ticket alerts")
    assert msgs[1].message["Subject"].startswith("4 ticket alerts")  # C and D, two rules each
    assert {r["status"] for r in world.outbox(u)} == {"sent"}


def test_quiet_hours_defer_the_message(world: AlertWorld, dispatcher: Any,
                                       smtp: SmtpBox) -> None:
    u = world.user(timezone="America/Los_Angeles")
    now_la = world.conn.execute(
        "SELECT (now() AT TIME ZONE 'America/Los_Angeles')::time").fetchone()[0]
    start = (now_la.hour - 1) % 24
    end = (now_la.hour + 2) % 24
    world.rule(u, "price_at_or_below", threshold_cents=50_000, quiet_start=f"{start}:00",
               quiet_end=f"{end}:00")
    world.ingest([{"listing_id": "A"}])
    drain(dispatcher())
    assert smtp.received == []
    [row] = world.outbox(u)
    wait = world.conn.execute("SELECT %s - now()", (row["next_attempt_at"],)).fetchone()[0]
    assert 3600 - 120 <= wait.total_seconds() <= 3 * 3600


def test_daily_cap_suppresses_and_says_why(world: AlertWorld, dispatcher: Any,
                                           smtp: SmtpBox) -> None:
    u = world.user(cap=1)
    world.rule(u, "price_at_or_below", threshold_cents=50_000)
    d = dispatcher()
    world.ingest([{"listing_id": "A"}])
    drain(d)
    world.ingest([{"listing_id": "B"}])
    drain(d)
    assert len(smtp.wait_for(1)) == 1
    rows = world.outbox(u)
    assert [r["status"] for r in rows] == ["sent", "suppressed"]
    assert "daily cap of 1" in rows[1]["last_error"]


def test_sms_is_premium_only(world: AlertWorld, dispatcher: Any, twilio: FakeTwilio,
                             smtp: SmtpBox) -> None:
    free = world.user("free@example.com", phone="+15035550101")
    premium = world.user("vip@example.com", phone="+15035550102", plan="premium")
    for u in (free, premium):
        world.rule(u, "price_at_or_below", threshold_cents=50_000, channels=["email", "sms"])
    world.ingest([{"listing_id": "A"}])
    drain(dispatcher())
    assert [m.to for m in twilio.messages] == ["+15035550102"]
    body = twilio.messages[0].body
    assert "$120" in body and "Reply STOP" in body and "seatgeek.com" in body
    assert sorted(r.rcpt_tos[0] for r in smtp.wait_for(2)) == ["free@example.com",
                                                               "vip@example.com"]
    # A downgrade after the match is caught at send time.
    world.conn.execute("UPDATE users SET plan = 'free' WHERE id = %s", (premium,))
    world.conn.commit()
    world.ingest([{"listing_id": "B"}])
    drain(dispatcher())
    sms = [r for r in world.outbox(premium) if r["channel"] == "sms"]
    assert [r["status"] for r in sms] == ["sent"]  # no new SMS row for a free user


def test_nothing_goes_to_an_unverified_email_or_phone(
        world: AlertWorld, dispatcher: Any, twilio: FakeTwilio, smtp: SmtpBox) -> None:
    """Someone signed a stranger's address (or number) up: the stranger gets nothing."""
    u = world.user("stranger@example.com", phone="+15035550109", plan="premium",
                   verified=False)
    world.rule(u, "price_at_or_below", threshold_cents=50_000, channels=["email", "sms"])
    world.ingest([{"listing_id": "A"}])
    drain(dispatcher())
    assert twilio.messages == [] and smtp.received == []
    rows = world.outbox(u)
    assert {r["channel"] for r in rows} == {"email", "sms"}
    assert all(r["status"] == "suppressed" and "not verified" in r["last_error"] for r in rows)


def test_stop_is_honoured(world: AlertWorld, dispatcher: Any, twilio: FakeTwilio) -> None:
    u = world.user(phone="+15035550103", plan="premium")
    world.rule(u, "price_at_or_below", threshold_cents=50_000, channels=["sms"])
    world.conn.execute("INSERT INTO alert_user_channels (user_id, channel, opted_out) "
                       "VALUES (%s, 'sms', true)", (u,))
    world.conn.commit()
    world.ingest([{"listing_id": "A"}])
    drain(dispatcher())
    assert twilio.messages == []
    [row] = world.outbox(u)
    assert row["status"] == "suppressed" and "STOP" in row["last_error"]


def test_invalid_number_disables_sms_and_bounce_disables_email(
        world: AlertWorld, dispatcher: Any, twilio: FakeTwilio, smtp: SmtpBox) -> None:
    u = world.user("gone@example.com", phone="+1555", plan="premium")
    smtp.bounce.add("gone@example.com")
    world.rule(u, "price_at_or_below", threshold_cents=50_000, channels=["email", "sms"])
    world.ingest([{"listing_id": "A"}])
    drain(dispatcher())
    rows = {r["channel"]: r for r in world.outbox(u)}
    assert rows["sms"]["status"] == "failed" and "21211" in rows["sms"]["last_error"]
    assert rows["email"]["status"] == "failed" and "550" in rows["email"]["last_error"]
    state = dict(world.conn.execute(
        "SELECT channel, disabled_reason FROM alert_user_channels WHERE user_id = %s",
        (u,)).fetchall())
    assert "21211" in state["sms"] and "550" in state["email"]
    world.ingest([{"listing_id": "B"}])  # later matches are not even attempted
    requests = twilio.requests
    drain(dispatcher())
    assert twilio.requests == requests
    assert all(r["status"] == "suppressed" for r in world.outbox(u)[2:])


def test_provider_errors_are_retried_with_backoff(world: AlertWorld, dispatcher: Any,
                                                  twilio: FakeTwilio) -> None:
    u = world.user(phone="+15035550104", plan="premium")
    world.rule(u, "price_at_or_below", threshold_cents=50_000, channels=["sms"])
    twilio.fail_next(2)
    world.ingest([{"listing_id": "A"}])
    d = dispatcher(backoff_base_s=60)
    drain(d)
    [row] = world.outbox(u)
    assert row["status"] == "pending" and row["attempts"] == 1 and "500" in row["last_error"]
    first_wait = world.conn.execute("SELECT %s - now()", (row["next_attempt_at"],)).fetchone()[0]
    world.conn.execute("UPDATE alert_outbox SET next_attempt_at = now()")
    world.conn.commit()
    drain(d)
    [row] = world.outbox(u)
    second_wait = world.conn.execute("SELECT %s - now()",
                                     (row["next_attempt_at"],)).fetchone()[0]
    assert row["attempts"] == 2 and second_wait > first_wait * 1.3  # exponential
    world.conn.execute("UPDATE alert_outbox SET next_attempt_at = now()")
    world.conn.commit()
    drain(d)
    assert world.outbox(u)[0]["status"] == "sent" and len(twilio.messages) == 1


def _spawn_dispatcher(db_url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "alerts", "dispatch", "--database-url", db_url,
         "--coalesce-seconds", "0"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


def _wait(event: Any, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    def reached() -> bool:
        assert proc.poll() is None, "dispatcher exited early"
        return event.is_set()

    wait_until(reached, timeout, 0.1, "dispatcher never reached the provider")


def _claims_released(db_url: str) -> bool:
    """No other session holds claimed outbox rows (``FOR NO KEY UPDATE`` takes a
    ``RowShareLock`` on the table until its transaction ends)."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT 1 FROM pg_locks WHERE relation = 'alert_outbox'::regclass "
            "AND mode = 'RowShareLock' AND pid <> pg_backend_pid()").fetchone() is None


def _kill_mid_send(db_url: str, env: dict[str, str], held: Any) -> None:
    """Run ``ripcity alerts dispatch`` until the provider holds its send (``held`` is set),
    then SIGKILL it there, and wait until PostgreSQL has ended its session: its claim is
    released only then, and a dispatcher started before would skip the claimed rows."""
    a = _spawn_dispatcher(db_url, env)
    try:
        _wait(held, a)
        a.send_signal(signal.SIGKILL)
        a.wait(10)
    finally:
        a.kill()
    wait_until(lambda: _claims_released(db_url), 30, 0.05,
               "the killed dispatcher's claim was never released")


@pytest.mark.slow
def test_sms_dispatcher_killed_after_provider_accepted_sends_once(
        world: AlertWorld, db_url: str, env: dict[str, str], dispatcher: Any,
        twilio: FakeTwilio) -> None:
    u = world.user(phone="+15035550105", plan="premium")
    world.rule(u, "price_at_or_below", threshold_cents=50_000, channels=["sms"])
    world.ingest([{"listing_id": "A"}, {"listing_id": "B"}])
    twilio.hold()  # accepted, but the answer never reaches dispatcher A
    _kill_mid_send(db_url, env, twilio.held)
    twilio.release()
    b = dispatcher()
    drain(b)
    assert len(twilio.messages) == 1
    [row] = world.outbox(u)
    assert row["status"] == "sent" and row["provider_id"] == twilio.messages[0].sid
    assert b.counts["recovered_sent"] == 1


@pytest.mark.slow
def test_email_dispatcher_killed_mid_conversation_sends_once(
        world: AlertWorld, db_url: str, env: dict[str, str], dispatcher: Any,
        smtp: SmtpBox) -> None:
    u = world.user("kill@example.com")
    world.rule(u, "price_at_or_below", threshold_cents=50_000)
    world.ingest([{"listing_id": "A"}])
    smtp.hold()  # dispatcher A is stopped at RCPT TO, before the message is accepted
    _kill_mid_send(db_url, env, smtp.held)
    smtp.release()
    drain(dispatcher())
    wait_until(lambda: smtp.received, 10, message="the resent email never reached the inbox")
    assert len(smtp.received) == 1
    [row] = world.outbox(u)
    assert row["status"] == "sent"
    attempts = world.conn.execute(
        "SELECT status, idempotency_key FROM alert_deliveries ORDER BY id").fetchall()
    assert [a[0] for a in attempts] == ["sending", "sent"]  # A's attempt stays on record
    assert attempts[0][1] == attempts[1][1]  # resent under the same idempotency key


def test_email_with_accents_and_long_links_parses_back_whole() -> None:
    import email
    import email.policy

    from engine.alerts.messages import render_email

    item = {"kind": "price_at_or_below", "event_name": "Café Tacvba — Señor Frog's Tour",
            "section": "Pista", "quantity": 2, "old_total_cents": 9_000, "total_cents": 7_550,
            "url": "https://example.com/" + "x" * 120}
    msg = render_email(key="m9-email", to="fan@example.com", sender="Rip City <a@b.test>",
                       payloads=[{"matches": [item]}], public_url="http://ripcity.test",
                       secret="k", user_id=9, unsubscribe_key="r4nd0m")
    got = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert got["Subject"] == "Price at or below your target: Café Tacvba — Señor Frog's Tour $75.50"
    text = got.get_body(("plain",)).get_content()
    assert "Café Tacvba" in text and item["url"] in text and "(was $90)" in text
    assert got["List-Unsubscribe"].startswith("<http://ripcity.test/alerts/unsubscribe?")
    assert got["Message-ID"] == "<m9-email@alerts.ripcity>"


def test_two_dispatchers_share_a_burst_and_send_each_message_once(
        world: AlertWorld, dispatcher: Any, smtp: SmtpBox) -> None:
    import threading
    from collections import Counter

    users = [world.user(f"fan{i}@example.com") for i in range(60)]
    for u in users:
        world.rule(u, "price_at_or_below", threshold_cents=50_000)
    world.ingest([{"listing_id": "A"}])  # one drop, sixty people
    ds = [dispatcher(batch_size=7, send_workers=4) for _ in range(2)]
    threads = [threading.Thread(target=drain, args=(d,)) for d in ds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    got = Counter(r.rcpt_tos[0] for r in smtp.wait_for(60))
    assert got == Counter({f"fan{i}@example.com": 1 for i in range(60)})
    assert {r["status"] for r in world.outbox()} == {"sent"}
    attempts = world.conn.execute("SELECT status, count(*) FROM alert_deliveries "
                                  "GROUP BY 1").fetchall()
    assert attempts == [("sent", 60)]
