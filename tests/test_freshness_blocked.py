"""A marketplace that blocks us (403 on every request) is not a sold-out event: the engine
on local Ray crawls the sandbox while SeatGeek is blocked; nothing of SeatGeek's is marked
gone, its freshness goes stale and the marketplace shows as failing while Ticketmaster stays
fresh; when the block lifts, nothing is revived and no back_in_stock / new_listing alert
fires. The block is lifted with the simulated clock where it started, so the world is as it
was before the block and any such alert would be spurious (the sandbox test checks that a
block lasts its N simulated minutes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.test_engine_e2e import _session, _world, ray_address  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def world() -> Iterator[tuple[str, Any]]:
    with _world(3, 80) as w:
        yield w


def _rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def _freshness(url: str, event_id: int, stale_after_s: float) -> dict[str, Any]:
    from storage.freshness import event_freshness

    async def read() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return {f.marketplace: f for f in
                    await event_freshness(conn, event_id, stale_after_s)}

    return asyncio.run(read())


def test_a_blocked_marketplace_is_stale_not_sold_out(
        ray_address: str, world: tuple[str, Any]) -> None:  # noqa: F811
    url, sandbox = world
    with _session(world, spiders=("ticketmaster", "seatgeek")) as session:
        session.engine.run_cycle(timeout=300)
        live = _rows(url, "SELECT count(*) FROM listings_current WHERE marketplace = "
                          "'seatgeek' AND gone_at IS NULL")[0][0]
        assert live > 50
        # every SeatGeek event gets a back-in-stock and a new-listing rule on every section
        user = _rows(url, "INSERT INTO users (email) VALUES ('fan@example.com') "
                          "RETURNING id")[0][0]
        for event_id, sections in _rows(
                url, "SELECT event_id, array_agg(DISTINCT section) FROM listings_current "
                     "WHERE marketplace = 'seatgeek' GROUP BY 1"):
            _rows(url, "INSERT INTO alert_rules (user_id, event_id, kind, sections) VALUES "
                       "(%s, %s, 'new_listing_in_section', %s), "
                       "(%s, %s, 'back_in_stock', NULL) RETURNING id",
                  user, event_id, sections, user, event_id)
        before = dict(_rows(url, "SELECT source_event_id, complete_at FROM "
                                 "source_event_crawls WHERE marketplace = 'seatgeek'"))

        time.sleep(2)  # every complete SeatGeek crawl is >= 2 s older than any later one
        httpx.post(f"{sandbox.base_url}/_sandbox/config",
                   json={"block": {"seatgeek": {"minutes": 60, "status": 403}}}
                   ).raise_for_status()
        session.engine.run_cycle(timeout=300)
        assert httpx.get(f"{sandbox.base_url}/_sandbox/stats").json()[
            "faults"]["seatgeek"]["blocked"] > 0
        gone = _rows(url, "SELECT count(*) FROM listings_current WHERE marketplace = "
                          "'seatgeek' AND gone_at IS NOT NULL")[0][0]
        assert gone == 0, "a blocked marketplace's listings were marked gone"
        during = dict(_rows(url, "SELECT source_event_id, complete_at FROM "
                                 "source_event_crawls WHERE marketplace = 'seatgeek'"))
        assert during == before  # no complete crawl while blocked
        event_id = _rows(url, "SELECT event_id FROM event_sources WHERE marketplace = "
                              "'seatgeek' AND event_id IN (SELECT event_id FROM event_sources "
                              "WHERE marketplace = 'ticketmaster') LIMIT 1")[0][0]
        sg_at, tm_at = (_rows(url, "SELECT max(c.complete_at) FROM source_event_crawls c "
                                   "JOIN event_sources es USING (marketplace, source_event_id) "
                                   "WHERE es.event_id = %s AND c.marketplace = %s",
                              event_id, m)[0][0] for m in ("seatgeek", "ticketmaster"))
        assert tm_at > sg_at
        # "stale" = older than Ticketmaster's prices by 1 s: the block opened a gap of >= 2 s
        # (the sleep) between each marketplace's newest complete crawl, measured at one instant
        ages = {m: f.age_seconds for m, f in _freshness(url, event_id, 1e9).items()}
        fresh = _freshness(url, event_id, ages["ticketmaster"] + 1.0)
        assert fresh["seatgeek"].stale and fresh["seatgeek"].marketplace_failing
        assert not fresh["ticketmaster"].stale and not fresh["ticketmaster"].marketplace_failing

        httpx.post(f"{sandbox.base_url}/_sandbox/config",
                   json={"block": {"seatgeek": {"minutes": 0}}}).raise_for_status()
        session.engine.run_cycle(timeout=300)  # waits until the changes were matched
    after = dict(_rows(url, "SELECT source_event_id, complete_at FROM source_event_crawls "
                            "WHERE marketplace = 'seatgeek'"))
    assert all(after[k] > before[k] for k in before), "recovery did not crawl completely"
    assert _rows(url, "SELECT count(*) FROM listings_current WHERE marketplace = 'seatgeek' "
                      "AND gone_at IS NOT NULL")[0][0] == 0
    assert _rows(url, "SELECT count(*) FROM listings_current WHERE marketplace = 'seatgeek' "
                      "AND gone_at IS NULL")[0][0] == live
    fired = _rows(url, "SELECT count(*) FROM alert_matches WHERE user_id = %s", user)[0][0]
    assert fired == 0, "recovery from a block fired back_in_stock / new_listing alerts"
