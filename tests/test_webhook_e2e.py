"""End to end: the sandbox drops a price -> the engine's ingest path commits it -> the alert
matcher (through the change relay) writes the outbox -> a running dispatcher (``ripcity
alerts dispatch``'s loop) POSTs a signed webhook -> a receiver on 127.0.0.1 verifies it with
the documented recipe, exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sandbox.vendors.webhook_receiver import WebhookReceiver
from storage.webhook_endpoints import new_secret
from tests.test_alerts_e2e import _busiest_seatgeek_event, _under

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(new_secret()).start()
    yield r
    r.stop()


@pytest.fixture
def dispatching(db_url: str) -> Iterator[None]:
    from engine.alerts.dispatcher import Dispatcher, DispatchOptions, build_senders
    from engine.settings import load_settings

    settings = load_settings(RIPCITY_WEBHOOK_ALLOW_PRIVATE_TARGETS="true")
    dispatcher = Dispatcher(db_url, build_senders(settings, ["webhook"], db_url),
                            DispatchOptions(coalesce_seconds=0, idle_wait_s=1.0))
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        dispatcher.close()


def test_sandbox_price_drop_is_a_signed_webhook_once(
        db_url: str, db: psycopg.Connection[Any], make_sandbox: Any,
        receiver: WebhookReceiver, dispatching: None, tmp_path: Path) -> None:
    from tests.test_dashboard_browser import Crawl

    sandbox = make_sandbox(seed=7, events=8, listings_per_event=60, faults="none")
    crawl = Crawl(sandbox, db_url, tmp_path)
    try:
        crawl.run(datetime.now(UTC))
        event_id, name, sg_id, get_in = _busiest_seatgeek_event(db)
        user = db.execute("INSERT INTO users (email) VALUES ('bot@example.com') "
                          "RETURNING id").fetchone()[0]
        db.execute("INSERT INTO webhook_endpoints (user_id, url, secret) VALUES (%s, %s, %s)",
                   (user, receiver.url, receiver.secret))
        threshold = get_in - 1
        db.execute("""INSERT INTO alert_rules (user_id, event_id, kind, threshold_cents,
                          channels) VALUES (%s, %s, 'price_at_or_below', %s, '{webhook}')""",
                   (user, event_id, threshold))
        db.commit()
        world_id = next(e["world_event_id"] for e in sandbox.truth()["events"]
                        if e["ids"].get("seatgeek") == sg_id)
        under: list[int] = []
        for _ in range(60):
            sandbox.advance(6 * 3600)
            under = _under(sandbox.truth(world_id), threshold)
            if under:
                break
        assert under, f"no SeatGeek listing of {name} fell under ${threshold / 100:.2f}"
        assert receiver.deliveries == []

        crawl.run(datetime.now(UTC))  # the drop is crawled, committed and matched

        [got] = receiver.wait_for(1, timeout=30)
        assert got.verified
        alerts = got.json["data"]["alerts"]
        assert {a["event_name"] for a in alerts} == {name}
        assert min(a["total_cents"] for a in alerts) == min(under)
        crawl.run(datetime.now(UTC))  # the same prices again: nothing more
        time.sleep(2)
        assert len(receiver.deliveries) == 1
    finally:
        crawl.close()
