"""The first administrator on a fresh install: the link ``ripcity run`` prints creates an
admin account once (the operations page then opens, and its link shows in the menu), never
again; a newer link withdraws older ones, an expired one does not work, a taken email keeps
the link usable, the token is stored only hashed, and no link is offered once an admin
exists or when ``RIPCITY_ADMIN_EMAILS`` names them."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from engine.cli.welcome import first_admin_link
from engine.settings import load_settings
from tests.fixtures_api import ServerThread, fresh_database, new_user

PASSWORD = "a long enough secret"


@pytest.fixture()
def site(api_template_db: str) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of the app on a database with no accounts."""
    from api.app import create_app

    with fresh_database(api_template_db) as url, ServerThread(create_app(db_url=url)) as base:
        yield base, url


def _link(site: tuple[str, str], admin_emails: str = "") -> str | None:
    base, url = site
    return first_admin_link(base, load_settings(RIPCITY_ADMIN_EMAILS=admin_emails), url)


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def test_the_link_creates_an_admin_once(site: tuple[str, str]) -> None:
    base, url = site
    link = _link(site)
    assert link is not None and link.startswith(f"{base}/setup?token=")
    with psycopg.connect(url) as conn:  # only its hash is stored
        stored = [r[0] for r in conn.execute("SELECT token_hash FROM setup_tokens")]
    assert len(stored) == 1 and _token(link) not in stored[0]

    with httpx.Client(base_url=base) as browser:
        assert "Create the administrator account" in browser.get(link).text
        made = browser.post("/setup", data={"token": _token(link), "email": "boss@example.com",
                                            "display_name": "Boss", "password": PASSWORD})
        assert made.status_code == 303 and made.headers["location"] == "/ops"
        ops = browser.get("/ops")
        assert ops.status_code == 200 and "Operations" in ops.text
        assert 'href="/ops"' in browser.get("/").text  # the menu shows the page to admins

    again = httpx.get(link)
    assert again.status_code == 404 and "already used or has expired" in again.text
    reuse = httpx.post(f"{base}/setup", data={"token": _token(link),
                                               "email": "other@example.com",
                                               "password": PASSWORD})
    assert reuse.status_code == 404
    with psycopg.connect(url) as conn:
        admins = conn.execute("SELECT email FROM users WHERE is_admin").fetchall()
    assert admins == [("boss@example.com",)]
    assert _link(site) is None  # an administrator exists: no more links


def test_a_newer_link_withdraws_older_ones_and_links_expire(site: tuple[str, str]) -> None:
    _, url = site
    first, second = _link(site), _link(site)
    assert first and second and first != second
    assert httpx.get(first).status_code == 404
    assert httpx.get(second).status_code == 200
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE setup_tokens SET expires_at = now() - interval '1 second'")
    assert httpx.get(second).status_code == 404


def test_a_taken_email_keeps_the_link_usable(site: tuple[str, str]) -> None:
    base, _ = site
    with httpx.Client(base_url=base) as client:
        existing = new_user(client)
    link = _link(site)
    assert link is not None
    with httpx.Client(base_url=base) as browser:
        taken = browser.post("/setup", data={"token": _token(link), "email": existing["email"],
                                             "password": PASSWORD})
        assert taken.status_code == 303 and taken.headers["location"].startswith("/setup?")
        assert browser.get(link).status_code == 200  # still usable with another email
        bad = browser.post("/setup", data={"token": _token(link), "email": "not-an-email",
                                           "password": "short"})
        assert bad.status_code == 303 and bad.headers["location"].startswith("/setup?")


def test_the_operations_page_refuses_other_accounts(site: tuple[str, str]) -> None:
    base, _ = site
    with httpx.Client(base_url=base) as client:
        client.cookies.update(new_user(client)["cookies"])
        ops = client.get("/ops")
    assert ops.status_code == 403 and "prints a link" in ops.text


def test_no_link_when_admin_emails_are_set(site: tuple[str, str]) -> None:
    assert _link(site, admin_emails="ops@example.com") is None
