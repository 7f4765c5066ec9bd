"""Twilio webhooks (signed STOP / START / HELP, status callbacks) and one-click unsubscribe,
through the real app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from twilio.request_validator import RequestValidator

from storage.unsubscribe import unsubscribe_url

TOKEN = "twilio-auth-token"
PUBLIC = "http://ripcity.test"
SECRET = "s3cret-key-for-tests"


@pytest.fixture
def client(db_url: str) -> Iterator[Any]:
    from litestar.testing import TestClient

    from api.app import create_app
    from engine.settings import load_settings

    settings = load_settings(TWILIO_AUTH_TOKEN=TOKEN, RIPCITY_PUBLIC_URL=PUBLIC,
                             RIPCITY_SECRET_KEY=SECRET, TWILIO_ACCOUNT_SID="AC" + "0" * 32)
    with TestClient(create_app(settings, db_url=db_url)) as c:
        yield c


@pytest.fixture
def user(db: psycopg.Connection[Any]) -> int:
    uid = db.execute("INSERT INTO users (email, phone, plan, email_verified_at, "
                     "phone_verified_at) VALUES ('t@example.com', '+15035550199', 'premium', "
                     "now(), now()) RETURNING id").fetchone()[0]
    db.commit()
    return int(uid)


def _post_signed(client: Any, path: str, form: dict[str, str], *, valid: bool = True) -> Any:
    sig = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
    return client.post(path, data=form,
                       headers={"X-Twilio-Signature": sig if valid else sig[::-1]})


def _sms_state(db: psycopg.Connection[Any], uid: int) -> tuple[Any, ...] | None:
    row = db.execute("SELECT opted_out, disabled_reason FROM alert_user_channels "
                     "WHERE user_id = %s AND channel = 'sms'", (uid,)).fetchone()
    db.commit()
    return row


def test_stop_and_start_need_a_valid_signature(client: Any, db: psycopg.Connection[Any],
                                               user: int) -> None:
    form = {"From": "+15035550199", "To": "+15035550000", "Body": " stop ",
            "MessageSid": "SM1", "AccountSid": "AC" + "0" * 32}
    forged = _post_signed(client, "/webhooks/twilio/inbound", form, valid=False)
    assert forged.status_code == 403 and _sms_state(db, user) is None
    assert _post_signed(client, "/webhooks/twilio/inbound", form).status_code == 200
    assert _sms_state(db, user) == (True, None)
    _post_signed(client, "/webhooks/twilio/inbound", {**form, "Body": "START"})
    assert _sms_state(db, user) == (False, None)
    help_reply = _post_signed(client, "/webhooks/twilio/inbound", {**form, "Body": "HELP"})
    assert "<Message>" in help_reply.text and "STOP" in help_reply.text


def test_status_callback_records_delivery_and_disables_dead_numbers(
        client: Any, db: psycopg.Connection[Any], user: int) -> None:
    db.execute("""INSERT INTO alert_outbox (user_id, channel, dedupe_key, payload, status,
                                            provider_id)
                  VALUES (%s, 'sms', 'k1', '{}', 'sent', 'SMabc')""", (user,))
    db.commit()
    form = {"MessageSid": "SMabc", "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    assert _post_signed(client, "/webhooks/twilio/status", form).status_code == 200
    assert db.execute("SELECT provider_status FROM alert_outbox").fetchone()[0] == "delivered"
    db.commit()
    failed = {**form, "MessageStatus": "undelivered", "ErrorCode": "30006"}
    _post_signed(client, "/webhooks/twilio/status", failed)
    opted_out, reason = _sms_state(db, user)
    assert not opted_out and "30006" in reason


def test_one_click_unsubscribe(client: Any, db: psycopg.Connection[Any], user: int) -> None:
    (user_key,) = db.execute("SELECT unsubscribe_key FROM users WHERE id = %s",
                             (user,)).fetchone()
    db.commit()
    url = unsubscribe_url(PUBLIC, SECRET, user, "email", user_key).removeprefix(PUBLIC)
    page = client.get(url)
    assert page.status_code == 200 and "<form" in page.text  # GET never unsubscribes
    assert db.execute("SELECT count(*) FROM alert_user_channels").fetchone()[0] == 0
    db.commit()
    bad = client.post(url.replace("t=", "t=x"), data={"List-Unsubscribe": "One-Click"})
    assert bad.status_code == 403
    done = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    row = db.execute("SELECT opted_out FROM alert_user_channels WHERE user_id = %s "
                     "AND channel = 'email'", (user,)).fetchone()
    assert row == (True,)
