"""``ripcity run`` sends the alerts it matches: with nothing but the SMTP settings, a price
drop the running engine crawls reaches a user's inbox (a real SMTP server on 127.0.0.1),
and SIGTERM still stops everything with one line."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from engine.cli.stopping import STOPPED_CLEANLY
from sandbox.vendors.smtp_inbox import SmtpBox
from tests.commands import Command, clean_env, still_running

pytestmark = pytest.mark.slow

FAN = "fan@example.com"


def _watch_every_event(db_url: str, timeout: float = 180.0) -> int:
    """Once the crawl stored listings: a verified fan with a rule on every event that any
    drop matches; returns how many rules."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            (listed,) = conn.execute("SELECT count(*) FROM listings_current").fetchone()
            if listed:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the running engine stored no listings")
        (fan,) = conn.execute(
            "INSERT INTO users (email, email_verified_at) VALUES (%s, now()) RETURNING id",
            (FAN,)).fetchone()
        rules = conn.execute(
            """INSERT INTO alert_rules (user_id, event_id, kind, threshold_cents, channels)
               SELECT %s, id, 'price_at_or_below', 1000000000, ARRAY['email'] FROM events""",
            (fan,))
        return rules.rowcount


def test_run_emails_the_alerts_it_matches_and_stops_cleanly(
        db_url: str, smtp: SmtpBox, tmp_path: Path) -> None:
    env = clean_env(RIPCITY_DATABASE_URL=db_url, RIPCITY_DATA_DIR=str(tmp_path / "data"),
                    RIPCITY_SANDBOX_PORT="0", RIPCITY_SANDBOX_EVENTS="2",
                    RIPCITY_SANDBOX_LISTINGS_PER_EVENT="40", RIPCITY_CRAWL_WORKERS="1",
                    RIPCITY_SMTP_PORT=str(smtp.port), RIPCITY_ALERT_COALESCE_SECONDS="0")
    cmd = Command("run", "--no-api", "--sandbox-faults", "none", env=env)
    try:
        cmd.wait_for(r"sending alerts: email, webhook \(email through 127\.0\.0\.1:"
                     rf"{smtp.port}; SMS once TWILIO_\* is set\)")
        assert _watch_every_event(db_url) >= 1
        # the sandbox's clock runs 60x: prices move, the engine re-crawls, a drop matches
        deadline = time.monotonic() + 240
        while not smtp.received and time.monotonic() < deadline:
            assert cmd.proc.poll() is None, cmd.output[-4000:]
            time.sleep(0.5)
        assert smtp.received, f"no alert email within 240 s:\n{cmd.output[-4000:]}"
        mail: Any = smtp.received[0]
        assert mail.rcpt_tos == [FAN]
        assert mail.header("X-Ripcity-Alert")

        family = cmd.family()
        cmd.signal(signal.SIGTERM)
        code, out = cmd.finish(90)
        assert code == 0, out
        assert out.rstrip().splitlines()[-1] == STOPPED_CLEANLY, out
        assert out.count("SIGTERM: stopping") == 1 and "Traceback" not in out, out
        assert still_running(family) == []
    finally:
        cmd.kill()


def test_run_without_a_mail_server_catches_email_in_the_sandbox_inbox(
        db_url: str, tmp_path: Path) -> None:
    """A laptop has no mail server on the SMTP port: the sandbox runs an inbox there, the
    start-up line says where to read it, and a sign-up's confirmation link arrives in it
    (pointing at the port the API serves on)."""
    import httpx

    from bench.harness import free_port

    today = datetime.now(UTC).date()
    smtp_port, api_port = free_port(), free_port()
    env = clean_env(RIPCITY_DATABASE_URL=db_url, RIPCITY_DATA_DIR=str(tmp_path / "data"),
                    RIPCITY_SANDBOX_PORT="0", RIPCITY_SANDBOX_EVENTS="2",
                    RIPCITY_SANDBOX_LISTINGS_PER_EVENT="40", RIPCITY_CRAWL_WORKERS="1",
                    RIPCITY_SMTP_PORT=str(smtp_port), RIPCITY_API_PORT=str(api_port))
    cmd = Command("run", "--sandbox-faults", "none", env=env)
    try:
        inbox = cmd.wait_for(r"email to the sandbox inbox: (\S+/_sandbox/mail)").group(1)
        # a live run's simulated season starts today, so its events are upcoming ones
        started = httpx.get(inbox.replace("/mail", "/clock")).json()["start"][:10]
        assert started in {d.isoformat() for d in (today, datetime.now(UTC).date())}
        site = cmd.wait_for(r"dashboard: (\S+)/ ").group(1)
        email = "newcomer@example.com"
        r = httpx.post(f"{site}/api/v1/auth/signup",
                       json={"email": email, "password": "plum-harbor-lantern-91"})
        assert r.status_code == 202, r.text
        deadline, found = time.monotonic() + 30, []
        while not found and time.monotonic() < deadline:
            found = httpx.get(f"{inbox}.json", params={"to": email}).json()["messages"]
            time.sleep(0.3)
        assert found, f"no confirmation email in the sandbox inbox:\n{cmd.output[-3000:]}"
        assert found[0]["to"] == [email] and f"{site}/" in found[0]["text"]
        page = httpx.get(inbox, params={"to": email})
        assert page.headers["content-type"].startswith("text/html")
        assert f'<a href="{site}/' in page.text  # the link is one click away
        cmd.signal(signal.SIGTERM)
        code, out = cmd.finish(90)
        assert code == 0 and out.rstrip().splitlines()[-1] == STOPPED_CLEANLY, out
    finally:
        cmd.kill()
