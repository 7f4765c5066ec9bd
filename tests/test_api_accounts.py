"""Accounts over real HTTP: sign-up, sessions with CSRF, passwords, reset by email, API keys,
account deletion."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.fixtures_api import ServerThread, emailed_token, new_user

V1 = "/api/v1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Any]:
    """A real SMTP server (the sandbox's inbox) on a free port collecting messages."""
    from sandbox.vendors.smtp_inbox import SmtpBox

    box = SmtpBox().start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def accounts_base(api_world, mailbox) -> Iterator[str]:
    from api.app import create_app
    from engine.settings import load_settings

    settings = load_settings(RIPCITY_SMTP_PORT=mailbox.port, RIPCITY_SMTP_HOST="127.0.0.1")
    with ServerThread(create_app(settings, db_url=api_world.db_url)) as base:
        yield base


@pytest.fixture()
def client(accounts_base) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=accounts_base, timeout=20) as c:
        yield c


def _email() -> str:
    return f"a{uuid.uuid4().hex[:10]}@example.com"


def test_signup_login_session_and_csrf(client, mailbox):
    email, pw = _email(), "a long enough password"
    r = client.post(f"{V1}/auth/signup", json={"email": email, "password": pw,
                                               "display_name": "Rip"})
    assert r.status_code == 202, r.text
    assert "ripcity_session" not in r.cookies  # the emailed link logs in
    r = client.post(f"{V1}/auth/verify-email",
                    json={"token": emailed_token(mailbox, email, "/verify-email")})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["plan"] == "free" and r.json()["user"]["email_verified_at"]
    assert "ripcity_session" in r.cookies and "HttpOnly" in r.headers["set-cookie"]
    dup = client.post(f"{V1}/auth/signup", json={"email": email.upper(), "password": pw})
    assert dup.status_code == 202  # the same answer: the owner gets a note by email

    client.cookies.clear()
    bad = client.post(f"{V1}/auth/login", json={"email": email, "password": "wrong pass"})
    assert bad.status_code == 401
    r = client.post(f"{V1}/auth/login", json={"email": email, "password": pw})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    assert client.get(f"{V1}/account").json()["email"] == email  # the cookie authenticates

    no_csrf = client.post(f"{V1}/watchlists", json={"kind": "performer", "performer": "X"})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]
    ok = client.post(f"{V1}/watchlists", json={"kind": "performer", "performer": "X"},
                     headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201

    out = client.post(f"{V1}/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    client.cookies.clear()
    assert client.get(f"{V1}/account").status_code == 401


def test_signup_validation_names_fields(client):
    r = client.post(f"{V1}/auth/signup", json={"email": "not-an-email", "password": "short"})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields & {"email", "password"}
    r = client.post(f"{V1}/auth/signup", content=b"{not json",
                    headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"].startswith("application/problem+json")


def test_password_change_ends_sessions(client, mailbox):
    user = new_user(client, inbox=mailbox)
    cookies = user["cookies"]
    wrong = client.post(f"{V1}/account/password", headers=user["headers"],
                        json={"current_password": "nope", "new_password": "another password"})
    assert wrong.status_code == 401
    r = client.post(f"{V1}/account/password", headers=user["headers"],
                    json={"current_password": user["password"],
                          "new_password": "another password"})
    assert r.status_code == 204
    client.cookies.update(cookies)
    assert client.get(f"{V1}/account").status_code == 401  # the old session is gone
    client.cookies.clear()
    assert client.post(f"{V1}/auth/login", json={"email": user["email"],
                                                 "password": "another password"}).is_success


def test_password_reset_by_email(client, mailbox):
    user = new_user(client, inbox=mailbox)
    before = len(mailbox.received)
    r = client.post(f"{V1}/auth/password-reset", json={"email": user["email"]})
    assert r.status_code == 202
    unknown = client.post(f"{V1}/auth/password-reset", json={"email": _email()})
    assert unknown.status_code == 202  # no account enumeration
    token = emailed_token(mailbox, user["email"], "/reset-password", after=before)
    assert len(mailbox.wait_for(before + 1)) == before + 1
    r = client.post(f"{V1}/auth/password-reset/confirm",
                    json={"token": token, "new_password": "a brand new password"})
    assert r.status_code == 204
    reuse = client.post(f"{V1}/auth/password-reset/confirm",
                        json={"token": token, "new_password": "a brand new password"})
    assert reuse.status_code == 401 and "request a new one" in reuse.json()["detail"]
    assert client.post(f"{V1}/auth/login", json={"email": user["email"],
                                                 "password": "a brand new password"}).is_success


def test_api_keys_shown_once_stored_hashed_and_revocable(client, api_world, mailbox):
    user = new_user(client, inbox=mailbox)
    h = user["headers"]
    created = client.post(f"{V1}/api-keys", headers=h, json={"name": "script"}).json()
    key = created["key"]
    listed = client.get(f"{V1}/api-keys", headers=h).json()
    assert {k["name"] for k in listed} == {"tests", "script"}
    assert all("key" not in k for k in listed)
    with psycopg.connect(api_world.db_url) as conn:
        stored = [r[0] for r in conn.execute("SELECT key_hash FROM api_keys")]
    assert key not in stored and user["key"] not in stored

    mine = {"Authorization": f"Bearer {key}"}
    assert client.get(f"{V1}/account", headers=mine).status_code == 200
    assert client.delete(f"{V1}/api-keys/{created['id']}", headers=h).status_code == 204
    r = client.get(f"{V1}/account", headers=mine)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert client.get(f"{V1}/events", headers=mine).status_code == 401  # even public reads
    assert client.get(f"{V1}/account", headers=h).status_code == 200  # the other key works
    assert client.delete(f"{V1}/api-keys/999999", headers=h).status_code == 404
    garbage = client.get(f"{V1}/account", headers={"Authorization": "Bearer rck_nope"})
    assert garbage.status_code == 401
    assert garbage.headers["www-authenticate"].startswith("Bearer")


def test_account_deletion_removes_its_data(client, api_world, mailbox):
    user = new_user(client, inbox=mailbox)
    h = user["headers"]
    eid = api_world.event_ids[0]
    w = client.post(f"{V1}/watchlists", headers=h, json={"kind": "event", "event_id": eid})
    client.post(f"{V1}/alert-rules", headers=h, json={"kind": "price_at_or_below",
                                                       "watchlist_id": w.json()["id"],
                                                       "max_price_cents": 5000})
    gone = client.request("DELETE", f"{V1}/account", headers=h,
                          json={"password": user["password"]})
    assert gone.status_code == 204
    assert client.get(f"{V1}/account", headers=h).status_code == 401
    with psycopg.connect(api_world.db_url) as conn:
        for table in ("users", "api_keys", "watchlists", "alert_rules", "api_sessions"):
            column = "id" if table == "users" else "user_id"
            (n,) = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s",
                                (user["id"],)).fetchone()
            assert n == 0, table


def test_profile_update(client, mailbox):
    user = new_user(client, inbox=mailbox)
    r = client.patch(f"{V1}/account", headers=user["headers"], json={"display_name": "Dame"})
    assert r.status_code == 200 and r.json()["display_name"] == "Dame"
    bad = client.patch(f"{V1}/account", headers=user["headers"], json={"phone": "555"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phone"


def test_account_quiet_hours_are_the_default_of_every_rule(client, api_world, mailbox):
    """Set once on the account: rules that follow it and rules created later keep them;
    a rule with quiet hours of its own keeps its own."""
    h, eid = new_user(client, inbox=mailbox)["headers"], api_world.event_ids[0]

    def rule(**extra):
        r = client.post(f"{V1}/alert-rules", headers=h, json={
            "kind": "deal_score_at_least", "event_id": eid, "min_deal_score": 80, **extra})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    before = rule()
    own = rule(quiet_start="01:00:00", quiet_end="05:00:00")
    r = client.patch(f"{V1}/account", headers=h, json={
        "timezone": "America/New_York", "quiet_start": "22:00:00", "quiet_end": "07:00:00"})
    assert r.status_code == 200, r.text
    assert (r.json()["timezone"], r.json()["quiet_start"]) == ("America/New_York", "22:00:00")
    after = rule()

    def quiet(rid):
        got = client.get(f"{V1}/alert-rules/{rid}", headers=h).json()
        return got["quiet_start"], got["quiet_end"]

    assert quiet(before) == quiet(after) == ("22:00:00", "07:00:00")
    assert quiet(own) == ("01:00:00", "05:00:00")
    client.patch(f"{V1}/account", headers=h, json={"quiet_start": "23:00:00",
                                                     "quiet_end": "06:00:00"})
    assert quiet(before) == quiet(after) == ("23:00:00", "06:00:00")
    assert quiet(own) == ("01:00:00", "05:00:00")
    for body, field in [({"quiet_start": "22:00:00"}, "quiet_end"),
                        ({"timezone": "Mars/Olympus"}, "timezone")]:
        bad = client.patch(f"{V1}/account", headers=h, json=body)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, bad.text
