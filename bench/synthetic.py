"""A small synthetic ticket world with known fair values, for the deal model's and the
engine's tests (quicker to build than a sandbox world).

Venues' seat maps are fixed (they do not depend on the seed, like real venues); events,
listings and prices come from the seed. The true fair all-in price of a listing is
``event level x section factor x row factor x quantity factor``; the asking all-in price is
fair x a marketplace markup x a lognormal repricing noise, with occasional deep drops.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from storage.records import LISTING_SCHEMA

_TIER_MULT = {"FLOOR": 3.2, "CLUB": 2.1, "1": 1.6, "2": 1.0, "3": 0.62}
_MARKUP = {"ticketmaster": 1.18, "seatgeek": 1.12, "eventbrite": 1.06, "stubhub": 1.22}
_QTY = np.array([1, 2, 2, 2, 3, 4, 4, 6])
_QTY_FACTOR = {1: 1.04, 2: 1.0, 3: 0.98, 4: 0.97, 6: 0.95}


@dataclasses.dataclass(frozen=True, slots=True)
class Venue:
    name: str
    sections: tuple[str, ...]
    factors: np.ndarray  # true section factor
    max_row: np.ndarray


def venues() -> list[Venue]:
    """Two fixed venues (seed-independent seat maps)."""
    rng = np.random.default_rng(12345)
    out = []
    for name, uppers in (("Arena", (1, 2, 3)), ("Stadium", (1, 3))):
        secs, facs, rows = ["FLOOR", "CLUB 1", "CLUB 2"], [3.2, 2.1, 2.0], [12, 8, 8]
        for level in uppers:
            for k in range(1, 19):
                secs.append(f"{level}{k:02d}")
                centre = 1.0 - 0.25 * abs(k - 9.5) / 9.5  # sideline beats the corners
                facs.append(_TIER_MULT[str(level)] * centre * float(np.exp(rng.normal(0, 0.08))))
                rows.append(25 if level == 1 else 15)
        out.append(Venue(name, tuple(secs), np.array(facs), np.array(rows)))
    return out


def _row_label(section: str, depth: int) -> str:
    return chr(64 + depth) if section == "FLOOR" else str(depth)


def world(
    seed: int,
    *,
    events: int = 30,
    listings_per_event: int = 150,
    snapshots: int = 4,
    start: datetime = datetime(2026, 10, 1, 12, tzinfo=UTC),
    step: timedelta = timedelta(days=3),
) -> tuple[pa.Table, pa.Table]:
    """Listing snapshots (LISTING_SCHEMA + ``event_id`` + ``fair_cents``) and the events
    table (``EVENT_CONTEXT_SCHEMA``) of a seeded world."""
    rng = np.random.default_rng(seed)
    vs = venues()
    ev_rows, cols = [], {k: [] for k in ("observed_at", "marketplace", "listing_id",
                                         "source_event_id", "section", "row", "quantity",
                                         "price_cents", "fees_cents", "total_cents",
                                         "delivery", "event_id", "fair_cents")}
    mkts = np.array(list(_MARKUP))
    for e in range(events):
        venue = vs[e % len(vs)]
        level0 = 9000 * float(np.exp(rng.normal(0, 0.45)))
        starts = start + timedelta(days=int(rng.integers(15, 60)), hours=19)
        trend = float(rng.normal(0, 0.012))  # per-day drift of the price level
        key = f"s{seed}-e{e}"
        ev_rows.append({"event_key": key, "venue": venue.name, "starts_at": starts,
                        "category": "basketball", "performers": f"Home|Team {e % 29}"})
        m = listings_per_event
        sec = rng.integers(0, len(venue.sections), m)
        depth = 1 + (rng.random(m) * venue.max_row[sec]).astype(int)
        qty = rng.choice(_QTY, m)
        mk = rng.integers(0, len(mkts), m)
        seat_fair = venue.factors[sec] * np.exp(-0.018 * (depth - 1)) * \
            np.vectorize(_QTY_FACTOR.get)(qty)
        base_noise = rng.normal(0.10, 0.16, m) - 0.35 * (rng.random(m) < 0.05)
        for s in range(snapshots):
            t = start + s * step
            level = level0 * float(np.exp(trend * s * step.days))
            alive = rng.random(m) < 0.85
            noise = base_noise + rng.normal(0, 0.05, m)
            fair = level * seat_fair
            total = np.round(fair * np.vectorize(_MARKUP.get)(mkts[mk]) * np.exp(noise))
            fees = np.round(total * 0.18)
            idx = np.flatnonzero(alive)
            cols["observed_at"] += [t] * len(idx)
            cols["marketplace"] += mkts[mk[idx]].tolist()
            cols["listing_id"] += [f"{key}-{i}" for i in idx]
            cols["source_event_id"] += [key] * len(idx)
            cols["section"] += [venue.sections[i] for i in sec[idx]]
            cols["row"] += [_row_label(venue.sections[sec[i]], int(depth[i])) for i in idx]
            cols["quantity"] += qty[idx].tolist()
            cols["price_cents"] += (total[idx] - fees[idx]).astype(int).tolist()
            cols["fees_cents"] += fees[idx].astype(int).tolist()
            cols["total_cents"] += total[idx].astype(int).tolist()
            cols["delivery"] += ["mobile"] * len(idx)
            cols["event_id"] += [key] * len(idx)
            cols["fair_cents"] += np.round(fair[idx]).astype(int).tolist()
    n = len(cols["observed_at"])
    schema = LISTING_SCHEMA.append(pa.field("event_id", pa.string())).append(
        pa.field("fair_cents", pa.int64()))
    data = {f.name: cols.get(f.name) for f in schema}
    data["currency"], data["kind"] = ["USD"] * n, ["resale"] * n
    data["seats"], data["splits"], data["zone"] = [None] * n, [None] * n, [None] * n
    from engine.deals.context import EVENT_CONTEXT_SCHEMA

    return pa.table(data, schema=schema), pa.Table.from_pylist(ev_rows,
                                                               schema=EVENT_CONTEXT_SCHEMA)
