"""Top Picks rendered from listing columns: byte-identical to ``orjson.dumps`` of
``sandbox.ticketmaster.objects.tm_picks`` (``tests/test_sandbox_render.py`` holds them
together), with the shared primitives of ``sandbox.fastjson``."""

from __future__ import annotations

import dataclasses

import numpy as np
import orjson

from sandbox import fastjson  # the shared primitives (this module is Ticketmaster's use)
from sandbox.fastjson import seat_run
from sandbox.market import FEES, MALFORMED_KINDS, Live, tm_offer_codes
from sandbox.ticketmaster.objects import M
from sandbox.venues import SeatMap, per_seat_map
from sandbox.world import WorldEvent

_FACE = '"faceValue":%d.%s,"totalPrice":%d.%s'
_OFFER = ('{{"offerId":"%s",%s{face},"charges":[{{"reason":"service","type":"fee","amount":'
          '%d.%s}},{{"reason":"facility","type":"fee","amount":%s}}]}}')
_OFFER_INLINE, _OFFER_FIELD = _OFFER.format(face=_FACE).encode(), _OFFER.format(face="%s").encode()
_FACILITY = fastjson.table([orjson.dumps(FEES[(M, kind)][1] / 100.0).decode()
                            for kind in ("resale", "primary")])
_EMPTY_SEATS = 1 + MALFORMED_KINDS[M].index("empty_seats")
_MISSING_PRICE = 1 + MALFORMED_KINDS[M].index("missing_price")


@dataclasses.dataclass(frozen=True, slots=True)
class _MapText:
    geo: fastjson.MapGeometry
    sec_row: np.ndarray  # [row_at] -> 'SECTION:ROW:' (inside the pick id)
    middle: np.ndarray  # [row_at * 2 + primary] -> '","type":"seats", ..."snapshotImageUrl":"'
    name: np.ndarray  # [section] -> section name (inside the snapshot URL)
    seat_ids: np.ndarray  # [seats_at] -> "5,6" / "GA1,GA2" (inside the pick id)
    seats: np.ndarray  # [seats_at] -> '["5","6"]'
    offer: np.ndarray  # [section * 2 + primary] -> '"name":..,"currency":"USD",'


@per_seat_map
def _map_text(smap: SeatMap) -> _MapText:
    geo = fastjson.MapGeometry(smap.sections)
    sections = smap.sections

    def sec_row(k: int, row: str | None) -> list[str]:
        return [f"{sections[k].name}:{row or 'GA'}:"]

    def middle(k: int, row: str | None) -> list[str]:
        sec = sections[k]
        area = orjson.dumps({"id": sec.zone_id, "name": sec.tier_code,
                             "description": sec.tier.upper()}).decode()
        quality = orjson.dumps(round(min(1.0, sec.value / 5.0), 6)).decode()
        return [f'","type":"seats","quality":{quality},"section":{fastjson.jstr(sec.name)},'
                f'"selection":"{selection}","row":{fastjson.jstr(row or "GA")},'
                f'"descriptions":["Full View"],"area":{area},"snapshotImageUrl":"'
                for selection in ("resale", "standard")]

    def seats(first: int, n: int) -> list[str]:
        return [f"GA{x}" for x in range(1, n + 1)] if first == 0 else list(seat_run(first, n))

    offers = []
    for sec in sections:
        for primary in (False, True):
            name = "Standard Ticket" if primary else "Resale Ticket"
            offers.append(
                f'"name":"{name}","ticketTypeId":"00000000000{2 - primary}",'
                f'"priceLevelId":"{sec.zone_id % 100}","description":'
                f'"{"Standard Ticket" if primary else "Verified Resale Ticket"}",'
                '"currency":"USD",')
    return _MapText(
        geo, geo.row_table(sections, sec_row), geo.row_table(sections, middle, 2),
        fastjson.table([sec.name for sec in sections]),
        geo.seat_table(lambda first, n: [",".join(seats(first, n))]),
        geo.seat_table(lambda first, n: [orjson.dumps(seats(first, n)).decode()]),
        fastjson.table(offers))


def tm_picks_json(e: WorldEvent, live: Live) -> tuple[bytes, bytes] | None:
    """``tm_picks`` as the JSON items of ``picks`` and ``offer`` (without brackets), rendered
    from columns; None when this event's text cannot take the fast path."""
    snapshot = f"https://app.ticketmaster.com/maps/geometry/3/event/{e.ids[M]}/image?section="
    if not fastjson.plain(snapshot) or not fastjson.plain_map(e.seat_map):
        return None
    if not len(live):
        return b"", b""
    text = _map_text(e.seat_map)
    geo = text.geo
    k, r, bad = live.section, live.row, live.malformed
    primary = live.primary.astype(np.int64)
    oid = tm_offer_codes(e, live.slot).tolist()
    at_row = geo.row_at(k, r)
    at_seats = geo.seats_at(r, live.seat0, live.qty)
    seat_ids, seats = text.seat_ids[at_seats].tolist(), text.seats[at_seats].tolist()
    money = [*fastjson.money(live.price), *fastjson.money(live.total)]
    offer = _OFFER_INLINE
    if np.count_nonzero(bad):
        for i in np.flatnonzero(bad == _EMPTY_SEATS).tolist():
            seat_ids[i], seats[i] = b"", b"[]"
        if (bad == _MISSING_PRICE).any():
            money = [fastjson.nullify(fastjson.column(_FACE, money), bad == _MISSING_PRICE,
                                      b'"faceValue":null,"totalPrice":null')]
            offer = _OFFER_FIELD
    facility = np.array([FEES[(M, "resale")][1], FEES[(M, "primary")][1]])[primary]
    picks = fastjson.rows(
        f'{{"id":"%s:%s%s%s{fastjson.literal(snapshot)}%s","offers":["%s"],"seats":%s}}',
        [oid, text.sec_row[at_row].tolist(), seat_ids, text.middle[at_row * 2 + primary].tolist(),
         text.name[k].tolist(), oid, seats])
    offers = fastjson.rows(offer, [
        oid, text.offer[k * 2 + primary].tolist(), *money,
        *fastjson.money(live.total - live.price - facility), _FACILITY[primary].tolist()])
    return picks, offers
