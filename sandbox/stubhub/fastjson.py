"""StubHub inventory listings rendered from listing columns: byte-identical to
``orjson.dumps`` of ``sandbox.stubhub.objects.sh_listings`` (``tests/test_sandbox_render.py``
holds them together), with the shared primitives of ``sandbox.fastjson``."""

from __future__ import annotations

import dataclasses

import numpy as np
import orjson

from sandbox import fastjson  # the shared primitives (this module is StubHub's use)
from sandbox.common import section_texts, splits
from sandbox.fastjson import seat_run
from sandbox.market import MALFORMED_KINDS, MAX_QTY, Live, listing_id
from sandbox.stubhub.objects import DELIVERY_BY_INDEX, M, section_name
from sandbox.venues import SeatMap, per_seat_map
from sandbox.world import WorldEvent

_CURRENT = '{"amount":%d.%s,"currency":"USD"}'
_LISTING = ('{{"listingId":%d,"currentPrice":{current},"listingPrice":{{"amount":%d.%s,'
            '"currency":"USD"}},"sectionId":%s,"quantity":%d,"sellerSectionName":%s,'
            '"seatNumbers":%s,"deliveryTypeList":[%d],"deliveryMethodList":[%d],'
            '"dirtyTicketInd":false,%s,"sellerOwnInd":0,"score":0.0,"valuePercentage":%d.%d}}')
_INLINE, _FIELD = _LISTING.format(current=_CURRENT).encode(), _LISTING.format(current="%s").encode()
_DELIVERY_ID = np.array(DELIVERY_BY_INDEX, dtype=np.int64)
_MISSING_PRICE = 1 + MALFORMED_KINDS[M].index("missing_price")
_NEGATIVE_QTY = 1 + MALFORMED_KINDS[M].index("negative_quantity")
_SPLITS = fastjson.table([
    f'"splitOption":"{int(len(v) > 1)}","ticketSplit":"{min(v)}",'
    f'"splitVector":{orjson.dumps(v).decode()}'
    if (v := splits(q, rule)) else "" for q in range(MAX_QTY + 1) for rule in range(4)])


@dataclasses.dataclass(frozen=True, slots=True)
class _MapText:
    geo: fastjson.MapGeometry
    section_row: np.ndarray  # [row_at] -> 'SECTION_ID,"row":ROW'
    seller: np.ndarray  # [section * 4 + spelling] -> 'SELLER,"sectionName":NAME'
    seats: np.ndarray  # [seats_at * n_sections + section] -> 'SEATS,"zoneId":..,"zoneName":..'


@per_seat_map
def _map_text(smap: SeatMap) -> _MapText:
    geo = fastjson.MapGeometry(smap.sections)
    secs = smap.sections
    texts = section_texts(smap)

    def seats(first: int, n: int) -> list[str]:
        run = '"General Admission"' if first == 0 else fastjson.jstr(",".join(seat_run(first, n)))
        return [f'{run},"zoneId":{sec.zone_id},"zoneName":{fastjson.jstr(sec.tier)}'
                for sec in secs]

    return _MapText(
        geo, geo.row_table(secs, lambda k, row: [
            f'{secs[k].section_id},"row":{fastjson.jstr(row or "GA")}']),
        fastjson.table([f'{fastjson.jstr(texts[k][v])},"sectionName":'
                        f'{fastjson.jstr(section_name(sec))}'
                        for k, sec in enumerate(secs) for v in range(4)]),
        geo.seat_table(seats, len(secs)))


def sh_listings_json(e: WorldEvent, live: Live) -> bytes | None:
    """``sh_listings`` as JSON array items (without the brackets), rendered from columns;
    None when this event's text cannot take the fast path."""
    if not fastjson.plain_map(e.seat_map):
        return None
    if not len(live):
        return b""
    text = _map_text(e.seat_map)
    geo = text.geo
    k, r, q, bad = live.section, live.row, live.qty, live.malformed
    value = np.minimum(np.rint(100.0 * live.fair / np.maximum(live.total, 1) * 10), 1000)
    value = value.astype(np.int64)
    current = list(fastjson.money(live.total))
    template = _INLINE
    qty = q
    if np.count_nonzero(bad):
        qty = np.where(bad == _NEGATIVE_QTY, -q, q)
        if (bad == _MISSING_PRICE).any():
            current = [fastjson.nullify(fastjson.column(_CURRENT, current),
                                        bad == _MISSING_PRICE)]
            template = _FIELD
    delivery = _DELIVERY_ID[live.delivery].tolist()
    return fastjson.rows(template, [
        (listing_id(M, e, 0) + live.slot).tolist(), *current, *fastjson.money(live.price),
        text.section_row[geo.row_at(k, r)].tolist(), qty.tolist(),
        text.seller[k * 4 + live.spelling].tolist(),
        text.seats[geo.seats_at(r, live.seat0, q) * len(e.seat_map.sections) + k].tolist(),
        delivery, delivery, _SPLITS[q * 4 + live.split].tolist(),
        (value // 10).tolist(), (value % 10).tolist()])
