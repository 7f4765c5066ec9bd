"""The fast listing renderers write exactly the bytes ``orjson.dumps`` writes for the
listing dicts (the readable definition of each wire format), malformed records included,
and the endpoints fall back to the dicts when a name would need JSON escaping."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

from sandbox import fastjson
from sandbox.app import SandboxConfig, create_app
from sandbox.market import MALFORMED_KINDS
from sandbox.seatgeek import fastjson as seatgeek_fast
from sandbox.seatgeek import objects as seatgeek
from sandbox.stubhub import fastjson as stubhub_fast
from sandbox.stubhub import objects as stubhub
from sandbox.ticketmaster import fastjson as ticketmaster_fast
from sandbox.ticketmaster import objects as ticketmaster
from tests.fixtures_sandbox import AsgiClient

_LISTINGS = ("/seatgeek/2/events/{seatgeek}/listings?client_id=sandbox&per_page=10&page=2",
             "/stubhub/search/inventory/v2?eventId={stubhub}&start=10&rows=10&sectionStats=true",
             "/ticketmaster/top-picks/v1/events/{ticketmaster}?apikey=sandbox&size=10&page=1")


@pytest.fixture(scope="module")
def app():
    """A world where a fifth of the listings are malformed, so every kind shows up."""
    app = create_app(SandboxConfig(seed=11, events=24, listings_per_event=150, faults="none"))
    AsgiClient(app).post("/_sandbox/config", {"all": {"malformed": 0.2}})
    return app


def _reference(m: str, e, live) -> bytes | tuple[bytes, bytes]:
    if m == "seatgeek":
        return orjson.dumps(seatgeek.sg_listings(e, live))[1:-1]
    if m == "stubhub":
        return orjson.dumps(stubhub.sh_listings(e, live))[1:-1]
    picks, offers = ticketmaster.tm_picks(e, live)
    return orjson.dumps(picks)[1:-1], orjson.dumps(offers)[1:-1]


_FAST = {"seatgeek": seatgeek_fast.sg_listings_json, "stubhub": stubhub_fast.sh_listings_json,
         "ticketmaster": ticketmaster_fast.tm_picks_json}


def test_fast_renderers_match_the_listing_dicts_byte_for_byte(app) -> None:
    seen: dict[str, set[int]] = {m: set() for m in _FAST}
    t = app.clock.tick()
    for e in app.world.events:
        for m, fast in _FAST.items():
            if m not in e.ids:
                continue
            live = app.model.live(e, m, t)
            seen[m].update(live.malformed.tolist())
            assert fast(e, live) == _reference(m, e, live), (m, e.world_id)
            page = live.take(3, 9)  # a slice, as pages are
            assert fast(e, page) == _reference(m, e, page), (m, e.world_id)
    for m, codes in seen.items():  # every malformed kind (and clean records) was rendered
        assert codes == set(range(len(MALFORMED_KINDS[m]) + 1)), (m, codes)


def test_money_is_written_as_orjson_writes_dollar_floats() -> None:
    cents = np.concatenate([np.arange(0, 200_000), np.array([10**9 + 5, 123_456_789_01])])
    whole, frac = fastjson.money(cents)
    mine = b",".join(b"%d.%s" % pair for pair in zip(whole, frac, strict=True))
    assert b"[" + mine + b"]" == orjson.dumps([round(c / 100, 2) for c in cents.tolist()])


def test_iso_parts_match_datetime_formatting() -> None:
    epochs = np.array([0, 1_790_000_000, 1_790_086_399, 4_102_444_800 - 1])
    day, clock = fastjson.iso_z_parts(epochs)
    text = np.datetime_as_string(epochs.astype("datetime64[s]"), unit="s")
    assert [d + c for d, c in zip(day, clock, strict=True)] == [
        (x + "Z").encode() for x in text.tolist()]


def test_endpoints_fall_back_to_dicts_for_text_that_needs_escaping(app, monkeypatch) -> None:
    client = AsgiClient(app)
    e = next(x for x in app.world.events if {"seatgeek", "stubhub", "ticketmaster"} <= set(x.ids)
             and x.status == "onsale")
    urls = [u.format(**e.ids) for u in _LISTINGS]
    fast = [client.get(u)[2] for u in urls]
    app._cache.clear()
    monkeypatch.setattr(fastjson, "plain_map", lambda smap: False)
    slow = [client.get(u)[2] for u in urls]
    assert fast == slow
    body = json.loads(fast[0])
    assert len(body["listings"]) == 10 and body["meta"]["page"] == 2


def test_batched_hashes_equal_the_per_field_draws() -> None:
    from sandbox import hashing

    slots = np.array([0, 1, 7, 4095, 123_456_789], dtype=np.int64)
    fields = (6, 10, 12, 2021, 8)
    block = hashing.hash_rows(987_654_321, slots, fields)
    u3, u53 = hashing.uniforms_rows(block), hashing.uniform_rows(block)
    for i, field in enumerate(fields):
        assert (block[i] == hashing.hashes(987_654_321, slots, field)).all()
        assert (u53[i] == hashing.uniform(987_654_321, slots, field)).all()
        for k, u in enumerate(hashing.uniforms(987_654_321, slots, field, 3)):
            assert (u3[i, k] == u).all()
        u1, u2 = hashing.uniforms(987_654_321, slots, field, 2)
        assert (hashing.normal_of(u1, u2) == hashing.normal(987_654_321, slots, field)).all()
