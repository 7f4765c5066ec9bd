"""Publish the fair-price model for the API: what any seat of an event is worth.

The API may not import the engine, so the fitted ``FairPriceModel`` is written out as
tables (``storage.valuation``): per venue, section and row the seat's effect (split into
the section's and the row's part, for the explanation), per tier the calibrated interval
offsets and the quantity effects, and per event its current price level and the
days-to-event effect per tier. ``publish_values`` is what the maintenance loop runs on the
forecast schedule: it republishes the model tables when the model changed and every
upcoming event's level.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from engine.deals.features import DTE_BUCKETS, QTY_BUCKETS, TIERS, bucket, extract
from engine.deals.intervals import ALL_TIERS
from engine.deals.registry import ModelNotFoundError, load_model
from engine.deals.store import load_context
from storage.db import connect
from storage.deals import current_listings
from storage.valuation import (
    MAX_QUANTITY,
    EventLevel,
    PublishedModel,
    SeatEffect,
    TierEffect,
    publish_model,
    published_model,
    write_levels,
)

if TYPE_CHECKING:
    from engine.deals.context import ScoringContext
    from engine.deals.model import FairPriceModel

logger = logging.getLogger(__name__)

#: features that are not the seat's own (quantity, delivery, timing, where it is sold)
_NOT_SEAT = {"qty_bucket", "delivery", "dte_bucket", "marketplace", "kind"}
#: a section name per tier, for looking effects up by tier alone
_TIER_SECTION = {"courtside": "COURTSIDE", "floor": "FLOOR", "club": "CLUB", "suite": "SUITE",
                 "lower": "LOWER", "middle": "MIDDLE", "upper": "UPPER", "ga": "GA",
                 "other": "OTHER"}


def _is_seat_term(term: tuple[str, ...]) -> bool:
    return not (set(term) & _NOT_SEAT)


def _effect(model: FairPriceModel, term: tuple[str, ...], key: str) -> float:
    """One term's effect for one combination key (0 when the term or key is unknown)."""
    if term not in model.terms:
        return 0.0
    i = model.terms.index(term)
    idx = model.vocab[i].get(key)
    return float(model.effects[i][idx]) if idx is not None else 0.0


def seat_effects(model: FairPriceModel) -> tuple[list[SeatEffect], dict[str, float]]:
    """Every (venue, section, row) the model learned, plus each section's typical row
    ("?"), relative to the venue's median section; and that median per venue (which the
    event levels carry instead)."""
    i = model.terms.index(("venue", "section", "row"))
    cells = [k.rsplit("|", 2) for k in model.vocab[i]]
    j = model.terms.index(("venue", "section"))
    sections = [(*k.rsplit("|", 1), "?") for k in model.vocab[j]]
    combos = [c for c in cells if c[1] != "?" and c[2] != "?"] + \
        [c for c in sections if c[1] != "?"]
    if not combos:
        return [], {}
    venue, section, row = (list(x) for x in zip(*combos, strict=True))
    table = pa.table({"event_id": pa.array(venue, pa.string()),
                      "section": pa.array(section, pa.string()),
                      "row": pa.array([None if r == "?" else r for r in row], pa.string())})
    from engine.deals.context import ScoringContext

    ctx = ScoringContext.build([{"event_key": v, "venue": v} for v in sorted(set(venue))])
    feats = extract(table, ctx)
    seat = model.relative(feats, _is_seat_term)
    tiers = feats.tier.values()
    typical: dict[tuple[str, str], list[float]] = {}
    for v, s, r, e in zip(venue, section, row, seat.tolist(), strict=True):
        if r != "?":
            typical.setdefault((v, s), []).append(e)
    for v, s, r, e in zip(venue, section, row, seat.tolist(), strict=True):
        if r == "?" and (v, s) not in typical:
            typical[(v, s)] = [e]
    section_typ = {k: float(np.median(x)) for k, x in typical.items()}
    by_venue: dict[str, list[float]] = {}
    for (v, _), e in section_typ.items():
        by_venue.setdefault(v, []).append(e)
    venue_med = {v: float(np.median(x)) for v, x in by_venue.items()}
    out = []
    for k, (v, s, r) in enumerate(combos):
        typ = section_typ[(v, s)]
        e = typ if r == "?" else float(seat[k])
        out.append(SeatEffect(v, s, r, str(tiers[k]), e - venue_med[v], typ - venue_med[v],
                              e - typ))
    return out, venue_med


def tier_effects(model: FairPriceModel) -> list[TierEffect]:
    """Per tier (and the pooled '*'): interval offsets and the effect of 1..12 tickets."""
    cal = model.intervals
    out = []
    for tier in (*TIERS, ALL_TIERS):
        band = cal.tiers.get(tier, cal.tiers.get(ALL_TIERS)) if cal is not None else None
        center, low, high, n = ((band.center, band.low, band.high, band.n) if band
                                else (0.0, 0.0, 0.0, 0))
        q = bucket(np.arange(1, MAX_QUANTITY + 1, dtype=np.float64), QTY_BUCKETS)
        qty = [_effect(model, ("qty_bucket",), str(b))
               + (_effect(model, ("tier", "qty_bucket"), f"{tier}|{b}") if tier != ALL_TIERS
                  else 0.0) for b in q.tolist()]
        out.append(TierEffect(tier, center, low, high, n, qty))
    return out


def event_levels(model: FairPriceModel, listings: pa.Table, context: ScoringContext,
                 venue_shift: dict[str, float], now: datetime) -> list[EventLevel]:
    """Each event's level from its live listings (the median, blended with the trained
    level as scoring does), in the terms the published seat effects are relative to."""
    if listings.num_rows == 0:
        return []
    feats = extract(listings, context)
    rel = model.relative(feats)
    level, _ = model.event_levels(feats, rel)
    delivery = _effect(model, ("delivery",), "UNKNOWN")
    codes = feats.event.codes
    start_of = dict(zip(feats.event.labels,
                        context.event_info(feats.event.labels)[1].tolist(), strict=True))
    out = []
    for e, key in enumerate(feats.event.labels):
        rows = codes == e
        if not rows.any() or not key.isdigit():
            continue
        venue = feats.venue.labels[int(feats.venue.codes[rows][0])]
        start = start_of.get(key)
        days = (start - now.timestamp()) / 86400.0 if start and np.isfinite(start) else None
        b = int(bucket(np.array([np.nan if days is None else days]), DTE_BUCKETS)[0])
        label = "?" if b < 0 else str(b)
        dte = {t: _effect(model, ("tier", "dte_bucket"), f"{t}|{label}") for t in TIERS}
        out.append(EventLevel(int(key), now, venue,
                              float(np.median(level[rows])) + venue_shift.get(venue, 0.0)
                              + delivery, int(rows.sum()), days, dte))
    return out


def publish_values(database_url: str, now: datetime | None = None,
                   directory: Path | str | None = None,
                   model: FairPriceModel | None = None) -> dict[str, object]:
    """Publish the latest saved model (its tables only when not published yet) and the
    level of every upcoming event with live listings."""
    now = now or datetime.now(UTC)
    if model is None:
        try:
            model = load_model(directory=directory)
        except ModelNotFoundError as err:
            return {"published": 0, "skipped": str(err)}
    seats, shift = seat_effects(model)
    context = load_context(database_url)
    with connect(database_url) as conn:
        fresh = published_model(conn, model.version) is None
        if fresh:
            cal = model.intervals
            publish_model(conn, PublishedModel(model.version, model.trained_at,
                                               cal.level if cal else 0.8,
                                               cal.basis if cal else "asks"),
                          seats, tier_effects(model))
        listings = current_listings(conn, now)
        levels = event_levels(model, listings, context, shift, now)
        write_levels(conn, model.version, levels)
        conn.commit()
    logger.info("fair prices published: model %(v)s, %(n)d events",
                {"v": model.version, "n": len(levels)})
    return {"model_version": model.version, "model_published": int(fresh),
            "events": len(levels)}
