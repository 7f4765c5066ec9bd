"""API fixtures (owned by the API): a migrated, seeded database and the app on real HTTP.

``api_world`` builds one database per test module (cloned from a migrated template, so it
costs a CREATE DATABASE) with a few venues, events and listings written through
``storage.ingest.write_snapshots``; ``api_server`` serves ``create_app`` with uvicorn on a
free 127.0.0.1 port in a background thread; ``http`` is an httpx client pointed at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from bench.harness import emailed_token

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: the SMTP inbox every app built from the environment sends to (see ``default_inbox``)
INBOX: list[Any] = []


@pytest.fixture(scope="session", autouse=True)
def default_inbox() -> Iterator[Any]:
    """A real SMTP server (the sandbox's inbox) that apps built from the environment send
    their account emails to, so tests click the links a user would."""
    import os

    from sandbox.vendors.smtp_inbox import SmtpBox
    from storage.settings import clear_cache

    box = SmtpBox().start()
    old = {k: os.environ.get(k) for k in ("RIPCITY_SMTP_HOST", "RIPCITY_SMTP_PORT")}
    os.environ.update(RIPCITY_SMTP_HOST="127.0.0.1", RIPCITY_SMTP_PORT=str(box.port))
    clear_cache()
    INBOX.append(box)
    yield box
    INBOX.remove(box)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    clear_cache()
    box.stop()


def _url(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


@pytest.fixture(scope="session")
def api_template_db() -> Iterator[str]:
    """A migrated database used as the template of every API test database."""
    from storage.migrate import migrate

    name = f"ripcity_api_tmpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(_url(name)) as conn:
        migrate(conn)
    yield name
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(template: str) -> Iterator[str]:
    name = f"ripcity_api_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclasses.dataclass
class World:
    """What ``seed`` put in the database."""

    db_url: str
    event_ids: list[int]
    venue_ids: list[int]
    listings_per_event: int


def listing_batch(source_event_id: str, marketplace: str, n: int, *, start: int = 0,
                  price_shift: int = 0, observed_at: datetime | None = None) -> Any:
    import pyarrow as pa

    from storage.records import LISTING_SCHEMA

    at = observed_at or datetime.now(UTC)
    rows = []
    for i in range(start, start + n):
        price = 5_000 + (i * 737) % 40_000 + price_shift
        rows.append({
            "observed_at": at, "marketplace": marketplace,
            "listing_id": f"{marketplace[:2]}-{source_event_id}-{i}",
            "source_event_id": source_event_id,
            "section": ["101", "102", "FLOOR", "305"][i % 4],
            "row": str(1 + i % 20) if i % 4 != 2 else "ABCDEFGH"[i % 8],
            "seats": None, "quantity": 1 + i % 6,
            "splits": "2,4" if i % 5 == 0 else None,
            "price_cents": price, "fees_cents": price // 5, "total_cents": price + price // 5,
            "currency": "USD", "delivery": "mobile", "kind": "resale", "zone": "Lower",
        })
    return pa.RecordBatch.from_pylist(rows, schema=LISTING_SCHEMA)


def seed(db_url: str, events: int = 6, listings: int = 60) -> World:
    """Venues, events (one a Trail Blazers game), their sources and scored listings."""
    from storage.ingest import write_snapshots

    now = datetime.now(UTC)
    with psycopg.connect(db_url) as conn:
        venue_ids = [r[0] for r in conn.execute(
            """INSERT INTO venues (name, city, timezone) VALUES
               ('Moda Center', 'Portland', 'America/Los_Angeles'),
               ('Crystal Ballroom', 'Portland', 'America/Los_Angeles'),
               ('Climate Pledge Arena', 'Seattle', 'America/Los_Angeles')
               RETURNING id""").fetchall()]
        event_ids = []
        for i in range(events):
            name, performers, cat = [
                ("Portland Trail Blazers vs. Denver Nuggets",
                 ["Portland Trail Blazers", "Denver Nuggets"], "basketball"),
                ("Portugal. The Man", ["Portugal. The Man"], "concert"),
                ("Kraken vs. Canucks", ["Seattle Kraken", "Vancouver Canucks"], "hockey"),
            ][i % 3]
            (eid,) = conn.execute(
                """INSERT INTO events (name, starts_at, venue_id, category, performers)
                   VALUES (%s, %s, %s, %s, %s) RETURNING id""",
                (f"{name} #{i}", now + timedelta(days=3 + i), venue_ids[i % 3], cat,
                 performers)).fetchone()
            event_ids.append(eid)
            for mk in ("seatgeek", "ticketmaster"):
                conn.execute(
                    """INSERT INTO event_sources (marketplace, source_event_id, event_id, url)
                       VALUES (%s, %s, %s, %s)""",
                    (mk, f"{mk}-{eid}", eid, f"https://{mk}.example/e/{eid}"))
        conn.commit()
        for eid in event_ids:
            for mk in ("seatgeek", "ticketmaster"):
                write_snapshots(conn, listing_batch(f"{mk}-{eid}", mk, listings // 2,
                                                    observed_at=now - timedelta(hours=2)))
            conn.commit()
        conn.execute("""UPDATE listings_current SET fair_value_cents = total_cents + 1000,
                            deal_score = ((hashtext(listing_id) & 1023) / 10.23)::real,
                            deal_reason = 'priced below similar seats', model_version = 't'""")
        conn.commit()
    return World(db_url=db_url, event_ids=event_ids, venue_ids=venue_ids,
                 listings_per_event=listings)


class ServerThread:
    """uvicorn serving an ASGI app on a free port in a background thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                     lifespan="on", loop="asyncio")
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.server.serve())

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(400):
            if self.server.started:
                break
            if not self.thread.is_alive():
                raise RuntimeError("the API server thread died during startup (see log)")
            threading.Event().wait(0.025)
        else:
            raise RuntimeError("the API server did not start within 10 s")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="module")
def api_world(api_template_db: str) -> Iterator[World]:
    with fresh_database(api_template_db) as url:
        yield seed(url)


@pytest.fixture(scope="module")
def api_base_url(api_world: World) -> Iterator[str]:
    from api.app import create_app

    app = create_app(db_url=api_world.db_url)
    with ServerThread(app) as base:
        yield base


@pytest.fixture()
def http(api_base_url: str) -> Iterator[Any]:
    import httpx

    with httpx.Client(base_url=api_base_url, timeout=20) as client:
        yield client


def new_user(http: Any, *, plan: str | None = None, db_url: str | None = None,
             inbox: Any = None) -> dict[str, Any]:
    """Sign up a fresh user and confirm the address with the emailed link (from ``inbox``,
    default the session's); returns {id, email, password, key, headers, csrf, cookies}."""
    email = f"u{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery"
    r = http.post("/api/v1/auth/signup", json={"email": email, "password": password})
    assert r.status_code == 202, r.text
    token = emailed_token(inbox or INBOX[0], email, "/verify-email")
    r = http.post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 200, r.text
    session = r.json()
    cookies = dict(r.cookies)
    if plan and db_url:
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE users SET plan = %s WHERE id = %s", (plan, session["user"]["id"]))
    k = http.post("/api/v1/api-keys", json={"name": "tests"},
                  headers={"X-CSRF-Token": session["csrf_token"]})  # the session cookie
    assert k.status_code == 201, k.text
    http.cookies.clear()  # callers choose: the key in headers, or the returned cookies
    key = k.json()["key"]
    return {"id": session["user"]["id"], "email": email, "password": password, "key": key,
            "headers": {"Authorization": f"Bearer {key}"}, "csrf": session["csrf_token"],
            "cookies": cookies}


def dashboard_user(base: str, next_page: str = "/") -> tuple[Any, str, str]:
    """Sign up on the dashboard's form, then open the emailed link and press its button, as
    a person does; returns (a signed-in httpx client, its CSRF token, the email)."""
    import re

    import httpx

    c = httpx.Client(base_url=base, timeout=20)
    email = f"p{uuid.uuid4().hex[:8]}@example.com"
    r = c.post("/signup", data={"email": email, "password": "correct horse battery",
                                "next": next_page})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert "ripcity_session" not in c.cookies
    page = c.get(f"/verify-email?token={emailed_token(INBOX[0], email, '/verify-email')}")
    fields = dict(re.findall(r'name="(form_token|token)" value="([^"]+)"', page.text))
    r = c.post("/verify-email", data=fields)
    assert r.status_code == 303 and "ripcity_session" in c.cookies
    return c, c.cookies["ripcity_csrf"], email


def confirm_email_in_browser(page: Any, base: str, email: str, inbox: Any = None) -> None:
    """After the sign-up form: open the emailed confirmation link and press its button, as
    the user does (``inbox`` default: the session's SMTP inbox)."""
    page.goto(base + "/verify-email?token="
              + emailed_token(inbox or INBOX[0], email, "/verify-email"))
    page.get_by_role("button", name="Confirm and log in").click()
    page.wait_for_url(base + "/")
