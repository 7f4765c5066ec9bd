"""The published fair-price model (``fair_price_*`` tables): the engine writes it, the API
values any seat of an event with it, and finds the comparables it leaned on.

A seat's fair all-in price per ticket is, in log terms, the event's level + the seat's
effect at the venue + its tier's effect of the days to the event + the quantity effect,
moved by the tier's calibrated centre; the interval adds the tier's lower and upper
offsets. The arithmetic is in SQL so the API reads one row per seat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from storage.db import record_row
from storage.errors import NotFound

if TYPE_CHECKING:
    import psycopg

#: quantity_effects holds 1..MAX_QUANTITY tickets; larger quantities use the last entry
MAX_QUANTITY = 12


@dataclasses.dataclass(frozen=True, slots=True)
class PublishedModel:
    version: str
    trained_at: datetime
    interval_level: float
    interval_basis: str  # "sales" | "asks"


@dataclasses.dataclass(frozen=True, slots=True)
class SeatEffect:
    venue: str
    section: str
    row: str  # "?" = any row of the section
    tier: str
    seat_effect: float
    section_effect: float
    row_effect: float


@dataclasses.dataclass(frozen=True, slots=True)
class TierEffect:
    tier: str
    center: float
    low: float
    high: float
    calibration_n: int
    quantity_effects: list[float]


@dataclasses.dataclass(frozen=True, slots=True)
class EventLevel:
    event_id: int
    computed_at: datetime
    venue: str
    log_level: float
    listings: int
    days_to_event: float | None
    tier_effects: dict[str, float]


@dataclasses.dataclass(frozen=True, slots=True)
class SeatValue:
    """One seat's fair price and what moved it (log effects)."""

    section: str
    row: str  # the row as asked ("?" when none was given)
    matched_row: str  # the model's row it used ("?" = the section's typical row)
    quantity: int
    tier: str
    fair_cents: int
    low_cents: int
    high_cents: int
    section_effect: float
    row_effect: float
    days_effect: float
    quantity_effect: float
    days_to_event: float | None
    model_version: str
    interval_level: float
    interval_basis: str
    computed_at: datetime
    listings: int


@dataclasses.dataclass(frozen=True, slots=True)
class Comparable:
    """A listing the estimate leaned on: live now, or gone (a sale proxy)."""

    marketplace: str
    section: str | None
    row: str | None
    quantity: int
    total_cents: int
    fair_value_cents: int | None
    last_seen: datetime
    gone_at: datetime | None


_INSERT_MODEL = """
INSERT INTO fair_price_models (version, trained_at, published_at, interval_level,
                               interval_basis)
VALUES (%s, %s, now(), %s, %s)
ON CONFLICT (version) DO UPDATE SET published_at = now(),
    interval_level = EXCLUDED.interval_level, interval_basis = EXCLUDED.interval_basis
"""
_DELETE_SEATS = "DELETE FROM fair_price_seats WHERE model_version = %s"
_DELETE_TIERS = "DELETE FROM fair_price_tiers WHERE model_version = %s"
_INSERT_TIER = """
INSERT INTO fair_price_tiers (model_version, tier, center, low, high, calibration_n,
                              quantity_effects)
VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
_COPY_SEATS = """COPY fair_price_seats (model_version, venue, section, "row", tier,
    seat_effect, section_effect, row_effect) FROM STDIN"""
# Older versions no event level points at any more are of no use to anyone.
_PRUNE = """
DELETE FROM fair_price_models m WHERE m.version <> %s
  AND NOT EXISTS (SELECT 1 FROM fair_price_levels l WHERE l.model_version = m.version)
"""
_UPSERT_LEVEL = """
INSERT INTO fair_price_levels (event_id, model_version, computed_at, venue, log_level,
                               listings, days_to_event, tier_effects)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (event_id) DO UPDATE SET model_version = EXCLUDED.model_version,
    computed_at = EXCLUDED.computed_at, venue = EXCLUDED.venue,
    log_level = EXCLUDED.log_level, listings = EXCLUDED.listings,
    days_to_event = EXCLUDED.days_to_event, tier_effects = EXCLUDED.tier_effects
WHERE fair_price_levels.computed_at <= EXCLUDED.computed_at
"""
_MODEL = """
SELECT version, trained_at, interval_level, interval_basis FROM fair_price_models
WHERE version = %s
"""
_LEVEL = """
SELECT event_id, computed_at, venue, log_level, listings, days_to_event, tier_effects
FROM fair_price_levels WHERE event_id = %s
"""

# Seats of one event in one statement (a page of listings is one query): each seat's exact
# row if the model knows it, else its section's typical row; ``i`` is the seat's position.
_VALUES = """
WITH ask AS (
    SELECT a.i, upper(btrim(a.section)) AS section,
           upper(btrim(coalesce(a.row_, ''))) AS row_, a.quantity
    FROM unnest(%(sections)s::text[], %(rows)s::text[], %(quantities)s::int[])
         WITH ORDINALITY AS a(section, row_, quantity, i)
), lvl AS (
    SELECT l.*, m.interval_level, m.interval_basis
    FROM fair_price_levels l JOIN fair_price_models m ON m.version = l.model_version
    WHERE l.event_id = %(event_id)s
), parts AS (
    SELECT ask.i, ask.section, CASE WHEN ask.row_ = '' THEN '?' ELSE ask.row_ END AS row,
           seat."row" AS matched_row, ask.quantity, seat.tier,
           lvl.log_level + seat.seat_effect AS base,
           coalesce((lvl.tier_effects ->> seat.tier)::float8, 0) AS days_effect,
           tier.quantity_effects[least(greatest(ask.quantity, 1), %(max_q)s)] AS q_effect,
           tier.center, tier.low, tier.high,
           seat.section_effect, seat.row_effect, lvl.days_to_event, lvl.model_version,
           lvl.interval_level, lvl.interval_basis, lvl.computed_at, lvl.listings
    FROM ask CROSS JOIN lvl
    CROSS JOIN LATERAL (
        SELECT s.* FROM fair_price_seats s
        WHERE s.model_version = lvl.model_version AND s.venue = lvl.venue
          AND s.section = ask.section AND s."row" IN (ask.row_, '?')
        ORDER BY (s."row" = ask.row_) DESC LIMIT 1) seat
    CROSS JOIN LATERAL (
        SELECT t.* FROM fair_price_tiers t
        WHERE t.model_version = lvl.model_version AND t.tier IN (seat.tier, '*')
        ORDER BY (t.tier = seat.tier) DESC LIMIT 1) tier
)
SELECT section, row, matched_row, quantity, tier,
       round(exp(base + days_effect + q_effect + center))::bigint AS fair_cents,
       round(exp(base + days_effect + q_effect + low))::bigint AS low_cents,
       round(exp(base + days_effect + q_effect + high))::bigint AS high_cents,
       section_effect, row_effect, days_effect, q_effect AS quantity_effect,
       days_to_event, model_version, interval_level, interval_basis, computed_at, listings,
       i AS position
FROM parts
"""
_SECTIONS = """
SELECT DISTINCT s.section FROM fair_price_seats s JOIN fair_price_levels l
  ON l.model_version = s.model_version AND l.venue = s.venue
WHERE l.event_id = %s ORDER BY 1 LIMIT 400
"""
# Comparables: the same section, nearest rows first (numbers by value, letters as text),
# live listings and those gone in the last 14 days (sold, most likely).
_COMPARABLES = """
SELECT marketplace, section, "row", quantity, total_cents, fair_value_cents, last_seen, gone_at
FROM listings_current
WHERE event_id = %(event_id)s AND upper(section) = upper(btrim(%(section)s))
  AND total_cents > 0
  AND (gone_at IS NULL) = %(live)s
  AND (gone_at IS NULL OR gone_at > now() - interval '14 days')
ORDER BY ("row" IS NOT DISTINCT FROM upper(btrim(%(row)s))) DESC,
         CASE WHEN "row" ~ '^[0-9]{1,6}$'
              THEN abs("row"::int - substring(btrim(%(row)s) FROM '^[0-9]{1,6}$')::int)
         END NULLS LAST,
         coalesce(gone_at, last_seen) DESC
LIMIT %(limit)s
"""


def publish_model(conn: psycopg.Connection, model: PublishedModel,
                  seats: Sequence[SeatEffect], tiers: Sequence[TierEffect]) -> None:
    """Write one model version's seat and tier tables (replacing that version's rows) and
    drop versions no event level uses; runs in the caller's transaction."""
    for t in tiers:
        if len(t.quantity_effects) != MAX_QUANTITY:
            raise ValueError(f"tier {t.tier!r}: {len(t.quantity_effects)} quantity effects, "
                             f"expected {MAX_QUANTITY}")
    with conn.cursor() as cur:
        cur.execute(_INSERT_MODEL, (model.version, model.trained_at, model.interval_level,
                                    model.interval_basis))
        cur.execute(_DELETE_SEATS, (model.version,))
        cur.execute(_DELETE_TIERS, (model.version,))
        cur.executemany(_INSERT_TIER, [(model.version, t.tier, t.center, t.low, t.high,
                                        t.calibration_n, list(t.quantity_effects))
                                       for t in tiers])
        with cur.copy(_COPY_SEATS) as copy:
            for s in seats:
                copy.write_row((model.version, s.venue, s.section, s.row, s.tier,
                                s.seat_effect, s.section_effect, s.row_effect))
        cur.execute(_PRUNE, (model.version,))


def write_levels(conn: psycopg.Connection, model_version: str,
                 levels: Sequence[EventLevel]) -> int:
    """Upsert event levels computed with ``model_version`` (newest wins); the caller's
    transaction. Returns how many were given."""
    rows = [(lv.event_id, model_version, lv.computed_at, lv.venue, lv.log_level, lv.listings,
             lv.days_to_event, Jsonb(lv.tier_effects)) for lv in levels]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(_UPSERT_LEVEL, rows)
    return len(rows)


def published_model(conn: psycopg.Connection, version: str) -> PublishedModel | None:
    with conn.cursor(row_factory=record_row(PublishedModel)) as cur:
        return cur.execute(_MODEL, (version,)).fetchone()


def event_level(conn: psycopg.Connection, event_id: int) -> EventLevel | None:
    with conn.cursor(row_factory=record_row(EventLevel)) as cur:
        return cur.execute(_LEVEL, (event_id,)).fetchone()


@dataclasses.dataclass(frozen=True, slots=True)
class _Positioned(SeatValue):
    position: int  # 1-based position of the seat in the caller's list


@dataclasses.dataclass(frozen=True, slots=True)
class Seat:
    """A seat to value: section and row as listed (row None = the section's typical row)
    and how many tickets together."""

    section: str | None
    row: str | None
    quantity: int


async def seat_values(conn: psycopg.AsyncConnection[Any], event_id: int,
                      seats: Sequence[Seat]) -> list[SeatValue | None]:
    """The fair price of each seat of one event, in order, in one query: None for a seat
    without a section, one the model does not know at the venue, or when the event has no
    published level yet."""
    if not seats:
        return []
    params = {"event_id": event_id, "sections": [s.section or "" for s in seats],
              "rows": [s.row for s in seats], "quantities": [s.quantity for s in seats],
              "max_q": MAX_QUANTITY}
    async with conn.cursor(row_factory=record_row(_Positioned)) as cur:
        await cur.execute(_VALUES, params)
        found = await cur.fetchall()
    out: list[SeatValue | None] = [None] * len(seats)
    for v in found:
        out[v.position - 1] = SeatValue(*(getattr(v, f.name)
                                          for f in dataclasses.fields(SeatValue)))
    return out


async def seat_value(conn: psycopg.AsyncConnection[Any], event_id: int, section: str,
                     row: str | None, quantity: int) -> SeatValue:
    """The fair price of one seat. Raises ``NotFound`` when the event has no published
    level yet, or the section is not one the model knows at the event's venue (the
    message lists the known sections)."""
    found = (await seat_values(conn, event_id, [Seat(section, row, quantity)]))[0]
    if found is not None:
        return found
    async with conn.cursor() as cur:
        await cur.execute(_LEVEL, (event_id,))
        if await cur.fetchone() is None:
            raise NotFound(f"no fair price for event {event_id} yet: the price model values "
                           "an event once it has listings and a trained model (the "
                           "maintenance loop refreshes every event on its schedule)")
        await cur.execute(_SECTIONS, (event_id,))
        known = [r[0] for r in await cur.fetchall()]
    raise NotFound(f"section {section!r} is not a section the price model knows at this "
                   f"event's venue; known sections: {', '.join(known[:60]) or 'none'}")


async def comparables(conn: psycopg.AsyncConnection[Any], event_id: int, section: str,
                      row: str | None, *, live: bool, limit: int = 5) -> list[Comparable]:
    """Listings of the same section, nearest rows first: live ones (``live``) or those
    gone in the last 14 days (sale proxies)."""
    params = {"event_id": event_id, "section": section, "row": row or "", "live": live,
              "limit": limit}
    async with conn.cursor(row_factory=record_row(Comparable)) as cur:
        await cur.execute(_COMPARABLES, params)
        return await cur.fetchall()
