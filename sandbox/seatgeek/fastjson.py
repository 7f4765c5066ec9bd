"""SeatGeek listings rendered from listing columns: byte-identical to ``orjson.dumps`` of
``sandbox.seatgeek.objects.sg_listings`` (``tests/test_sandbox_render.py`` holds them
together), with the shared primitives of ``sandbox.fastjson``."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import orjson

from sandbox import fastjson  # the shared primitives (this module is SeatGeek's use)
from sandbox.common import section_texts, splits
from sandbox.fastjson import seat_run
from sandbox.market import DELIVERIES, MALFORMED_KINDS, Live, listing_id
from sandbox.seatgeek.objects import M
from sandbox.venues import SeatMap, per_seat_map
from sandbox.world import WorldEvent, slug

_PRICE = '{"base":%d.%s,"fees":%d.%s,"all_in":%d.%s,"currency":"USD"}'
_BAD = {kind: i + 1 for i, kind in enumerate(MALFORMED_KINDS[M])}


@dataclasses.dataclass(frozen=True, slots=True)
class _MapText:
    """Per seat map: the listing fields that depend only on table lookups, pre-rendered
    as JSON text and merged where they sit next to each other in the record."""

    geo: fastjson.MapGeometry
    sec_row: np.ndarray  # [row_at * 4 + spelling] -> 'SECTION,"row":ROW'
    seats: np.ndarray  # [(run * 4 + split rule] -> 'SEATS,"quantity":Q,"splits":[..]'
    tail: np.ndarray  # [(section * 5 + delivery) * 2 + primary] -> 'DELIV,"zone":..,"market":..'


@per_seat_map
def _map_text(smap: SeatMap) -> _MapText:
    geo = fastjson.MapGeometry(smap.sections)
    texts = section_texts(smap)

    def sec_row(k: int, row: str | None) -> list[str]:
        rows = ("null", "null") if row is None else (fastjson.jstr(f"Row {row}"),
                                                     fastjson.jstr(row))
        return [f'{fastjson.jstr(texts[k][v])},"row":{rows[v % 2]}' for v in range(4)]

    def seats(first: int, n: int) -> list[str]:
        run = "[]" if first == 0 else orjson.dumps(list(seat_run(first, n))).decode()
        return [f'{run},"quantity":{n},"splits":{orjson.dumps(splits(n, rule)).decode()}'
                if n else "" for rule in range(4)]

    markets = ('"resale"', '"primary"')
    return _MapText(
        geo, geo.row_table(smap.sections, sec_row, 4), geo.seat_table(seats, 4),
        fastjson.table([f'{fastjson.jstr(d)},"zone":{fastjson.jstr(sec.tier)},"market":{m}'
                        for sec in smap.sections for d in DELIVERIES for m in markets]))


def _template(e: WorldEvent) -> tuple[bytes, bytes] | None:
    return _event_template(int(e.ids[M]), e.name)


@functools.lru_cache(maxsize=4096)
def _event_template(eid: int, name: str) -> tuple[bytes, bytes] | None:
    """The per-listing format (price inline, and price as one field) or None if the event's
    URL would need escaping."""
    url = f"https://seatgeek.com/e/{slug(name)}/{eid}?listing="
    if not fastjson.plain(url):
        return None
    head = f'{{"id":%d,"event_id":{eid},"section":%s,"seat_numbers":%s,"price":'
    tail = f',"delivery_method":%s,"created_at":"%s%s","url":"{fastjson.literal(url)}%d"}}'
    return (head + _PRICE + tail).encode(), (head + "%s" + tail).encode()


def sg_listings_json(e: WorldEvent, live: Live) -> bytes | None:
    """``sg_listings`` as JSON array items (without the brackets), rendered from columns;
    None when this event's text cannot take the fast path."""
    template = _template(e)
    if template is None or not fastjson.plain_map(e.seat_map):
        return None
    if not len(live):
        return b""
    text = _map_text(e.seat_map)
    k, r, q, bad = live.section, live.row, live.qty, live.malformed
    geo = text.geo
    lid = (listing_id(M, e, 0) + live.slot).tolist()
    seats = text.seats[geo.seats_at(r, live.seat0, q) * 4 + live.split].tolist()
    day, clock = fastjson.iso_z_parts(live.created)
    money = [*fastjson.money(live.price), *fastjson.money(live.fees), *fastjson.money(live.total)]
    inline = True
    if np.count_nonzero(bad):
        for i in np.flatnonzero(bad == _BAD["bad_date"]).tolist():
            day[i], clock[i] = b"2026-13-45T", b"99:99:99Z"
        for i in np.flatnonzero(bad == _BAD["negative_quantity"]).tolist():
            n = int(q[i])
            seats[i] = seats[i].replace(b',"quantity":%d,' % n, b',"quantity":%d,' % -n, 1)
        if (bad == _BAD["missing_price"]).any():
            money = [fastjson.nullify(fastjson.column(_PRICE, money),
                                      bad == _BAD["missing_price"])]
            inline = False
    columns = [lid, text.sec_row[geo.row_at(k, r) * 4 + live.spelling].tolist(), seats,
               *money, text.tail[(k * 5 + live.delivery) * 2 + live.primary].tolist(),
               day, clock, lid]
    return fastjson.rows(template[0 if inline else 1], columns)
