"""The listing model: which seat blocks are for sale on which marketplace at clock ``t``,
and at what price, as a pure function of (seed, event, slot, t).

Each event has ``n_slots`` *slots*; a slot is one seller's block of seats with a lifetime
``[appear, sell)`` and a set of marketplaces it is listed on (sometimes two, at different
all-in prices). "Live listings at t" is a vectorised filter over the slot arrays, so
pagination is stable for a fixed clock, and a page is generated on demand from hashes.

Prices: a slot's *fair value* (all-in cents per ticket) is the event's base price x the
section's value x a row factor x seat noise x a time-to-event drift driven by demand. Each
marketplace asks ``fair x markup x repricing`` where the repricing factor is redrawn every
``period`` seconds of simulated time and occasionally is a deep drop (a real deal).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from sandbox.hashing import (
    hash_rows,
    hashes,
    normal_of,
    uniform,
    uniform2,
    uniform_rows,
    uniforms_rows,
)
from sandbox.world import World, WorldEvent

RESALE_MARKETS: tuple[str, ...] = ("ticketmaster", "seatgeek", "stubhub")
BIT = {"ticketmaster": 1, "seatgeek": 2, "stubhub": 4}
DELIVERIES: tuple[str, ...] = ("mobile", "instant", "electronic", "will_call", "physical")
_DELIVERY_CUM = np.array([0.60, 0.75, 0.90, 0.95, 1.0])
_QTY = np.array([1, 2, 2, 2, 2, 2, 3, 4, 4, 4, 4, 5, 6, 6, 8], dtype=np.int64)
MAX_QTY = int(_QTY.max())  # the largest block of seats one listing has
#: split rules: 0 any quantity, 1 never leave a single, 2 pairs only, 3 all together
SPLIT_RULES = ("any", "no_single", "pairs", "all")
#: (rate, fixed cents) of the buyer fee per marketplace and market
FEES: dict[tuple[str, str], tuple[float, int]] = {
    ("ticketmaster", "resale"): (0.19, 350),
    ("ticketmaster", "primary"): (0.14, 350),
    ("seatgeek", "resale"): (0.24, 0),
    ("seatgeek", "primary"): (0.16, 0),
    ("stubhub", "resale"): (0.16, 250),
    ("stubhub", "primary"): (0.16, 250),
    ("eventbrite", "primary"): (0.037, 179),
}
#: malformed kinds each marketplace can show (a listing's malformation is fixed by its hash)
MALFORMED_KINDS: dict[str, tuple[str, ...]] = {
    "ticketmaster": ("missing_price", "empty_seats"),
    "seatgeek": ("missing_price", "negative_quantity", "bad_date"),
    "stubhub": ("missing_price", "negative_quantity"),
}
DAY = 86_400

# hash fields
_F_APPEAR, _F_LIFE, _F_M1, _F_M2, _F_PRIMARY, _F_SEC, _F_ROW, _F_QTY = range(1, 9)
_F_SEAT, _F_SPLIT, _F_DELIV, _F_NOISE, _F_PERIOD = range(9, 14)
_F_MARKUP, _F_REPRICE, _F_DROP, _F_DROPSIZE, _F_MAL, _F_MALKIND, _F_SPELL = range(20, 27)


@dataclasses.dataclass(frozen=True, slots=True)
class Slots:
    """Per-event arrays over all slots (built once per event, cached)."""

    appear: np.ndarray  # int64 epoch seconds
    sell: np.ndarray  # int64 epoch seconds (event start at the latest)
    mask: np.ndarray  # uint8 marketplace bits
    primary: np.ndarray  # bool: a box-office (standard) seat, Ticketmaster only


@dataclasses.dataclass(slots=True)
class Live:
    """Every live listing of one event on one marketplace at one clock tick (slot order)."""

    event: WorldEvent
    marketplace: str
    t: int
    slot: np.ndarray
    section: np.ndarray  # index into the seat map's sections
    row: np.ndarray  # index into the section's rows, -1 for general admission
    qty: np.ndarray
    seat0: np.ndarray  # first seat number
    split: np.ndarray  # index into SPLIT_RULES
    delivery: np.ndarray  # index into DELIVERIES
    primary: np.ndarray
    fair: np.ndarray  # cents per ticket, all-in
    price: np.ndarray  # cents per ticket, seller price / face value
    fees: np.ndarray  # cents per ticket
    total: np.ndarray  # cents per ticket, all-in
    created: np.ndarray  # epoch seconds the listing appeared
    malformed: np.ndarray  # 0 = fine, else 1 + index into MALFORMED_KINDS[marketplace]
    spelling: np.ndarray  # how the seller typed the section (0..3)

    def __len__(self) -> int:
        return int(self.slot.size)

    def take(self, start: int, stop: int) -> Live:
        """A page: the same arrays sliced (views, no copies)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in fields.items():
            if isinstance(value, np.ndarray):
                fields[name] = value[start:stop]
        return Live(**fields)

    def select(self, idx: np.ndarray) -> Live:
        """The listings at positions ``idx`` (fancy indexing)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in fields.items():
            if isinstance(value, np.ndarray):
                fields[name] = value[idx]
        return Live(**fields)

    def malformed_reason(self, i: int) -> str | None:
        code = int(self.malformed[i])
        return MALFORMED_KINDS[self.marketplace][code - 1] if code else None


def _quantities(e: WorldEvent, j: np.ndarray) -> np.ndarray:
    return _QTY[(uniform(e.uid, j, _F_QTY) * _QTY.size).astype(np.int64)]


class _LRU:
    """A tiny LRU map (functools.lru_cache cannot be cleared per key or sized per call)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[Any, Any] = OrderedDict()

    def get(self, k: Any, make: Callable[[], Any]) -> Any:
        try:
            self._d.move_to_end(k)
            return self._d[k]
        except KeyError:
            value = make()
            self._d[k] = value
            if len(self._d) > self.size:
                self._d.popitem(last=False)
            return value

    def clear(self) -> None:
        self._d.clear()


def listing_id(marketplace: str, event: WorldEvent, slot: int) -> int:
    """Numeric listing id a marketplace shows for a slot (stable for the listing's life)."""
    if marketplace == "stubhub":
        return 10_000_000_000 + event.index * 10_000_000 + slot
    return 5_000_000_000_000 + event.index * 100_000_000 + slot


_OFFER_ALPHABET = np.frombuffer(b"ABCDEFGHJKLMNPQRSTUVWXYZ234567", dtype=np.uint8)
_POW30 = np.array([30**k for k in range(8)], dtype=np.uint64)


def tm_offer_codes(event: WorldEvent, slots: np.ndarray) -> np.ndarray:
    """Ticketmaster resale offer ids ("GJ6DC7BQ"-like) as an ``S8`` array, vectorised."""
    h = hashes(event.uid, slots, 77) >> np.uint64(24)
    digits = (h[:, None] // _POW30[None, :]) % np.uint64(30)
    chars = _OFFER_ALPHABET[digits.astype(np.int64)]
    return np.ascontiguousarray(chars).view("S8").ravel()


def tm_offer_ids(event: WorldEvent, slots: np.ndarray) -> list[str]:
    """Ticketmaster resale offer ids ("GJ6DC7BQ"-like), vectorised over slots."""
    return tm_offer_codes(event, slots).astype("U8").tolist()


class ListingModel:
    """Generates listings on demand; caches per-event slot arrays and live sets."""

    def __init__(self, world: World, listings_per_event: int,
                 malformed: dict[str, float] | None = None) -> None:
        self.world = world
        self.per_event = listings_per_event
        self.malformed_rates = dict(malformed or {})
        self._slots = _LRU(256)
        self._live = _LRU(64)
        self._index = _LRU(4096)
        self._qty = _LRU(1024)
        self._maps: dict[int, dict[str, np.ndarray]] = {}

    def set_malformed(self, rates: dict[str, float]) -> None:
        if rates != self.malformed_rates:
            self.malformed_rates = dict(rates)
            self._live.clear()
            self.stats.cache_clear()

    # -- slots -------------------------------------------------------------------------
    def n_slots(self, event: WorldEvent) -> int:
        if self.per_event <= 0:
            return 0
        horizon = max(event.start - self.world.start, DAY)
        life = self.mean_life(event)
        return max(1, math.ceil(self.per_event / 1.25 * (horizon + 3 * life) / life))

    def mean_life(self, event: WorldEvent) -> float:
        return max((event.start - self.world.start) / 2, 2 * DAY)

    def slots(self, event: WorldEvent) -> Slots:
        return self._slots.get(event.index, lambda: self._build_slots(event))

    def _build_slots(self, e: WorldEvent) -> Slots:
        n = self.n_slots(e)
        j = np.arange(n, dtype=np.int64)
        life = self.mean_life(e)
        begin = self.world.start - 3 * life
        appear = (begin + uniform(e.uid, j, _F_APPEAR) * (e.start - begin)).astype(np.int64)
        lifetime = -np.log1p(-uniform(e.uid, j, _F_LIFE)) * life
        sell = np.minimum(appear + lifetime.astype(np.int64) + 60, e.start)
        markets = [m for m in RESALE_MARKETS if m in e.marketplaces]
        bits = np.array([BIT[m] for m in markets], dtype=np.uint8)
        first = (uniform(e.uid, j, _F_M1) * len(bits)).astype(np.int64)
        mask = bits[first].copy()
        second = uniform(e.uid, j, _F_M2)
        if len(bits) > 1:
            other = (first + 1 + (second * 4 * (len(bits) - 1)).astype(np.int64)
                     % (len(bits) - 1)) % len(bits)
            both = second < 0.25
            mask[both] |= bits[other[both]]
        primary = np.zeros(n, dtype=bool)
        if "ticketmaster" in markets:
            primary = uniform(e.uid, j, _F_PRIMARY) < 0.10
            mask[primary] = BIT["ticketmaster"]
        return Slots(appear, sell, mask, primary)

    # -- live sets ---------------------------------------------------------------------
    def live(self, event: WorldEvent, marketplace: str, t: int) -> Live:
        """All live listings of ``event`` on ``marketplace`` at ``t`` (cached per tick)."""
        rates = self.malformed_rates.get(marketplace, 0.0)
        return self._live.get((event.index, marketplace, t, rates), lambda: self._build_live(
            event, marketplace, t, self.live_slots(event, marketplace, t)))

    def page(self, event: WorldEvent, marketplace: str, t: int, start: int,
             stop: int) -> tuple[Live, int]:
        """Live listings ``[start, stop)`` in slot order, and how many are live in all.

        Only the page's listings are generated; the live slot index is cached per tick.
        """
        j = self.live_slots(event, marketplace, t)
        return self._build_live(event, marketplace, t, j[start:stop]), int(j.size)

    def quantities(self, event: WorldEvent, marketplace: str, t: int) -> np.ndarray:
        """Ticket counts of every live listing (cheap: no prices), for page-level totals."""
        j = self.live_slots(event, marketplace, t)
        return self._qty.get((event.index, marketplace, t), lambda: _quantities(event, j))

    def live_slots(self, event: WorldEvent, marketplace: str, t: int) -> np.ndarray:
        return self._index.get((event.index, marketplace, t),
                               lambda: self._live_slots(event, marketplace, t))

    def _live_slots(self, event: WorldEvent, marketplace: str, t: int) -> np.ndarray:
        if event.status == "cancelled" or marketplace not in BIT:
            return np.empty(0, dtype=np.int64)
        s = self.slots(event)
        ok = (s.appear <= t) & (t < s.sell) & ((s.mask & BIT[marketplace]) > 0)
        if event.status == "soldout":
            ok &= ~s.primary
        return np.flatnonzero(ok)

    def _build_live(self, e: WorldEvent, m: str, t: int, j: np.ndarray) -> Live:
        # Every per-slot hash of the page in one (fields x slots) block: a page is ~100
        # listings, so numpy's per-call overhead, not arithmetic, is what costs. The values
        # are exactly those of ``uniforms``/``uniform``/``normal`` per field.
        s = self.slots(e)
        arr = self._map_arrays(e)
        salt = BIT[m] * 1000
        rate_bad = self.malformed_rates.get(m, 0.0)
        fields = (_F_SEC, _F_SPLIT, _F_NOISE, _F_MARKUP + salt, _F_QTY, _F_PERIOD)
        if rate_bad > 0:
            fields += (_F_MAL + BIT[m] * 100, _F_MALKIND + BIT[m] * 100)
        h = hash_rows(e.uid, j, fields)
        u3 = uniforms_rows(h[:4])
        u53 = uniform_rows(h[4:])
        u_sec, u_row, u_seat = u3[0]
        u_split, u_deliv, u_spell = u3[1]
        gauss = normal_of(u3[2:4, 0], u3[2:4, 1])
        sec = np.minimum(arr["cum"].searchsorted(u_sec, side="right"),
                         arr["cum"].size - 1)
        rows = arr["rows"][sec]
        row = np.where(arr["ga"][sec], -1, (u_row * rows).astype(np.int64))
        qty = _QTY[(u53[0] * _QTY.size).astype(np.int64)]
        span = np.maximum(arr["seats"][sec] - qty, 1)
        seat0 = (u_seat * span).astype(np.int64) + 1
        split = np.where(qty == 1, 0, (u_split * 4).astype(np.int64))
        deliv = np.minimum(_DELIVERY_CUM.searchsorted(u_deliv, side="right"),
                           len(DELIVERIES) - 1)
        primary = s.primary[j]
        appear = s.appear[j]
        # fair value: base x section value x row factor (a table per (section, row)) x
        # seat noise x time-to-event drift
        row_factor = arr["row_factor"][sec * arr["row_stride"] + row + 1]
        noise = np.exp(0.05 * gauss[0])
        value = e.base_cents * arr["value"][sec] * row_factor * noise * self.drift(e, t)
        fair = np.rint(value).astype(np.int64)
        # the marketplace's ask: fair x markup x repricing (redrawn every ``period``,
        # 2 % deep drops); box-office seats ask the face value
        markup = np.exp(0.06 + 0.14 * gauss[1])
        period = 6 * 3600 * np.exp2(u53[1] * 4)
        epoch = ((t - appear) // period).astype(np.int64)
        u_reprice, u_drop, u_size = uniform2(e.uid, j, epoch, _F_REPRICE + salt)
        reprice = np.exp(0.085 * (2 * u_reprice - 1))
        factor = markup * reprice * np.where(u_drop < 0.02, 0.5 + 0.2 * u_size, 1.0)
        resale = FEES[(m, "resale")]
        rate: Any
        fixed: Any
        if np.count_nonzero(primary):  # box-office seats sell at face value with primary fees
            face = fair / self.drift(e, t) * self.drift(e, self.world.start) * 0.92
            total = np.where(primary, face, fair * factor)
            prim = FEES.get((m, "primary"), resale)
            rate = np.where(primary, prim[0], resale[0])
            fixed = np.where(primary, prim[1], resale[1])
        else:  # the same arithmetic with scalars (only Ticketmaster has box-office seats)
            total = fair * factor
            rate, fixed = resale
        price = np.maximum(np.rint((total - fixed) / (1.0 + rate)), 100).astype(np.int64)
        fees = np.rint(price * rate).astype(np.int64) + fixed
        total = price + fees
        if rate_bad > 0:
            kind = (u53[3] * len(MALFORMED_KINDS[m])).astype(np.int64) + 1
            mal = np.where(u53[2] < rate_bad, kind, 0)
        else:
            mal = np.zeros(j.size, dtype=np.int64)
        spelling = (u_spell * 4).astype(np.int64)
        return Live(e, m, t, j, sec, row, qty, seat0, split, deliv, primary, fair, price,
                    fees, total, appear, mal, spelling)

    def _map_arrays(self, e: WorldEvent) -> dict[str, np.ndarray]:
        cid = e.seat_map.config_id
        if cid not in self._maps:
            arr = e.seat_map.arrays()
            # the row factor of ``fair_cents`` for every (section, row), row -1 = GA
            stride = int(arr["rows"].max()) + 1
            sec = np.repeat(np.arange(arr["rows"].size), stride)
            row = np.tile(np.arange(-1, stride - 1), arr["rows"].size)
            rows = arr["rows"][sec]
            front = np.where(row < 0, 0.5, 1.0 - row / np.maximum(rows - 1, 1))
            arr["row_factor"] = 1.0 + 0.35 * front
            arr["row_stride"] = stride
            self._maps[cid] = arr
        return self._maps[cid]

    # -- prices ------------------------------------------------------------------------
    def drift(self, e: WorldEvent, t: int) -> float:
        """Time-to-event multiplier: hot events climb as the date nears, cold ones sag."""
        days = max(e.start - t, 0) / DAY
        return 1.0 + e.demand * math.exp(-days / 25.0)

    # -- event level -------------------------------------------------------------------
    @functools.lru_cache(maxsize=8192)  # noqa: B019 - the model lives as long as the server
    def stats(self, event_index: int, m: str, t: int) -> dict[str, Any]:
        """Event-level price points of a marketplace (all-in and base, dollars)."""
        live = self.live(self.world.events[event_index], m, t)
        good = live.malformed == 0
        total, price = live.total[good], live.price[good]
        if total.size == 0:
            return {"count": 0, "tickets": 0}
        return {
            "count": int(total.size),
            "tickets": int(live.qty[good].sum()),
            "lowest": int(total.min()), "highest": int(total.max()),
            "average": round(total.mean()), "median": int(np.median(total)),
            "lowest_base": int(price.min()),
            "lowest_good_deal": int(total[live.total[good] <= live.fair[good]].min())
            if (total <= live.fair[good]).any() else int(total.min()),
        }
