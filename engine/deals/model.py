"""The fair-price model: log all-in price = event level + seat and listing effects.

Fitting is a Huber-reweighted ridge regression (scikit-learn) on a sparse one-hot design:
one block per *term* (venue-section, tier, tier x row depth, quantity, marketplace, ...)
plus one column per event snapshot. A ridge penalty on one-hot blocks is the empirical-Bayes
(Gaussian random effect) estimate, so a section with three listings of history is shrunk
toward its venue-tier and tier effects while a section with thousands keeps its own: that is
the pooling across similar sections the issue asks for.

Scoring never refits. The seat effects are looked up per distinct combination and gathered
to rows; the event level comes from the *other* listings of the same event (leave-one-out
median), blended with the level learned from history, so a cheap listing cannot pull its
own fair value down.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from sklearn.linear_model import Ridge

from engine.deals.features import Features, extract
from engine.deals.groups import loo_median
from engine.deals.intervals import IntervalCalibration, calibrate

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from engine.deals.context import ScoringContext

logger = logging.getLogger(__name__)

#: The model's terms: each a tuple of feature names whose combination gets one effect.
#: Marketplace and listing kind are deliberately absent: a seat is worth the same wherever
#: it is sold, so higher fees make a listing a worse deal rather than raise its fair value,
#: and a box-office seat at face value below the resale market *is* a deal (measured on the
#: sandbox: with these terms Spearman vs the true discount drops from 0.93 to 0.88).
#: In a term, makes its effect a slope on the row depth (per combination of the others).
SLOPE_DEPTH = "~depth"

TERMS: tuple[tuple[str, ...], ...] = (
    ("tier",),
    ("venue", "tier"),
    ("venue", "section"),
    ("tier", "row_bucket"),
    ("venue", "tier", "row_bucket"),
    ("venue", "section", "row_bucket"),
    ("venue", "section", "row"),
    ("qty_bucket",),
    ("tier", "qty_bucket"),
    ("delivery",),
    ("tier", "dte_bucket"),
)
#: The terms before row-depth slopes, kept so ``bench.deals`` measures old beside new.
LEGACY_TERMS = TERMS
#: Row-depth slopes per section and per tier (prices fall steadily with each row back), so
#: a row seen in few listings borrows from its section's trend instead of only its bucket.
TERMS = (*LEGACY_TERMS, ("venue", "section", SLOPE_DEPTH), ("tier", SLOPE_DEPTH))
#: Optional terms for markets where the fair value should follow the marketplace.
MARKET_TERMS: tuple[tuple[str, ...], ...] = (("marketplace",), ("marketplace", "kind"),
                                             ("kind",))

#: Ridge penalty per term, relative to ``alpha`` (1 when absent). One penalty for every
#: block pulled a venue's section with dozens of listings (each listing weighs 1 however
#: often it was seen) a third of the way to its tier, while the row cells, a few listings
#: each, needed a stronger pull than that: as in a hierarchical model, the penalty follows
#: how much each level varies against how much evidence it has. Coarse levels are shrunk
#: as if by 2 listings' worth (a section seen once still leans on its tier), the per-row
#: cells four times as much as before (measured on the sandbox, seeds 7 and 8: Spearman
#: 0.936 -> 0.941 and 0.929 -> 0.940, fair-price error sd 0.057 -> 0.054).
TERM_PENALTY: dict[tuple[str, ...], float] = {
    ("tier",): 0.01,
    ("venue", "tier"): 0.1,
    ("venue", "section"): 0.1,
    ("venue", "section", "row_bucket"): 4.0,
    ("venue", "section", "row"): 4.0,
}
_GROUP_SCALE = 10.0  # event-snapshot columns are scaled up so the ridge barely shrinks them
_DENSE_LIMIT = 4_000_000


@dataclasses.dataclass(slots=True)
class FairPriceModel:
    """A fitted model: effect tables per term, event levels, and the score calibration."""

    version: str
    trained_at: datetime
    terms: tuple[tuple[str, ...], ...]
    vocab: list[dict[str, int]]  # per term: combination key -> index into ``effects``
    effects: list[np.ndarray]  # per term: effect (log scale) per vocabulary entry
    event_level: dict[str, float]  # latest log price level per event key seen in training
    venue_level: dict[str, float]
    global_level: float
    calib_center: float  # logistic score calibration of the log discount
    calib_scale: float
    prior_weight: float = 5.0  # listings' worth of confidence in the trained event level
    stats: dict[str, float] = dataclasses.field(default_factory=dict)
    intervals: IntervalCalibration | None = None  # per-tier interval and centre offsets

    # -- prediction -------------------------------------------------------------------------
    def relative(self, feats: Features,
                 only: Callable[[tuple[str, ...]], bool] | None = None) -> np.ndarray:
        """Sum of the seat and listing effects per row (log scale, event level excluded);
        ``only`` keeps the terms it accepts."""
        out = np.zeros(len(feats), dtype=np.float64)
        for term, vocab, eff in zip(self.terms, self.vocab, self.effects, strict=True):
            if only is not None and not only(term):
                continue
            idx = term_index(feats, term, vocab)
            out += np.where(idx >= 0, eff[np.maximum(idx, 0)], 0.0) * slope_of(feats, term)
        return out

    def event_levels(self, feats: Features, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: the event level from the other listings blended with the trained prior,
        and how many other listings it rests on."""
        loo, others = loo_median(feats.event.codes, feats.log_price - rel)
        n_ev = len(feats.event.labels)
        venue_of_event = np.zeros(n_ev, dtype=np.int64)
        venue_of_event[feats.event.codes] = feats.venue.codes
        prior = np.full(n_ev, self.global_level)
        weight = np.full(n_ev, 0.5)
        for i, key in enumerate(feats.event.labels):
            level = self.event_level.get(key)
            if level is not None:
                prior[i], weight[i] = level, self.prior_weight
            else:
                v = self.venue_level.get(feats.venue.labels[venue_of_event[i]])
                if v is not None:
                    prior[i], weight[i] = v, 1.0
        p, w = prior[feats.event.codes], weight[feats.event.codes]
        loo_f = np.where(others > 0, loo, 0.0)
        return (others * loo_f + w * p) / (others + w), others

    def log_fair(self, feats: Features) -> tuple[np.ndarray, np.ndarray]:
        """Log fair all-in price per row and the number of other listings behind it."""
        rel = self.relative(feats)
        level, others = self.event_levels(feats, rel)
        return level + rel, others

    def estimate(self, feats: Features) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
        """Per row, log scale: the calibrated fair value, the interval's lower and upper
        bounds, and the number of other listings behind the event level. Without a
        calibration the interval is empty (both bounds at the estimate)."""
        lf, others = self.log_fair(feats)
        cal = getattr(self, "intervals", None)  # models saved before intervals existed
        if cal is None:
            return lf, lf, lf, others
        center, low, high = cal.offsets(feats.tier.labels, feats.tier.codes)
        return lf + center, lf + low, lf + high, others

    def predict(self, batch: pa.RecordBatch | pa.Table,
                context: ScoringContext | None = None) -> np.ndarray:
        """Fair all-in value in cents per listing (float)."""
        lf, _ = self.log_fair(extract(batch, context))
        return np.exp(lf)

    def score_of(self, log_discount: np.ndarray) -> np.ndarray:
        """Deal score 0-100: a logistic function of log(fair / all-in), calibrated on the
        training history (50 = a typical listing, 90 = about the best 4 % of listings)."""
        z = (log_discount - self.calib_center) / self.calib_scale
        return 100.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


# -- fitting -------------------------------------------------------------------------------
def fit(
    history: pa.Table | pa.RecordBatch,
    context: ScoringContext | None = None,
    *,
    alpha: float = 20.0,
    snapshot_hours: float = 6.0,
    irls_iterations: int = 3,
    terms: tuple[tuple[str, ...], ...] = TERMS,
    penalties: Mapping[tuple[str, ...], float] | None = None,
) -> FairPriceModel:
    """Fit the model on stored listing snapshots (LISTING_SCHEMA rows, ``event_id`` optional).

    Args:
        history: snapshots from several moments; each (event, ``snapshot_hours`` window) gets
            its own price level, so drift over time does not leak into seat effects.
        context: venues and dates of the events (see ``ScoringContext``).
        alpha: ridge penalty = noise variance / effect variance of the empirical-Bayes prior.
        penalties: per term, a multiple of ``alpha`` (default ``TERM_PENALTY``; ``{}``: one
            penalty for all, as before).
    """
    rel_penalty = TERM_PENALTY if penalties is None else penalties

    def scale(term: tuple[str, ...]) -> float:
        # a block scaled by s is shrunk as if its penalty were alpha / s**2
        return float(rel_penalty.get(term, 1.0)) ** -0.5

    feats = extract(history, context)
    ok = np.isfinite(feats.log_price)
    if ok.sum() < 50:
        raise ValueError(
            f"cannot train the fair-price model on {int(ok.sum())} priced listings: "
            "crawl more history first (at least 50 listings with an all-in price)")
    y = feats.log_price[ok]
    n = len(y)

    blocks, vocabs = [], []
    for term in terms:
        keys, codes = term_keys(feats, term)
        vocab = {k: i for i, k in enumerate(keys)}
        vocabs.append(vocab)
        slope = slope_of(feats, term)
        blocks.append(_onehot(codes[ok], len(keys),
                              slope[ok] if isinstance(slope, np.ndarray) else None)
                      * scale(term))

    obs = history.column("observed_at").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    obs_us = (obs.combine_chunks() if isinstance(obs, pa.ChunkedArray) else obs).to_numpy(
        zero_copy_only=False)
    window = (obs_us // int(snapshot_hours * 3600e6)).astype(np.int64)
    gkey = feats.event.codes.astype(np.int64) * (window.max() + 1) + window
    groups, gcode = np.unique(gkey[ok], return_inverse=True)
    blocks.append(_onehot(gcode, len(groups)) * _GROUP_SCALE)
    x = sparse.hstack(blocks, format="csr")

    # A listing seen in k snapshots is one seller's opinion, not k: weight it 1/k so
    # repeated sightings do not masquerade as evidence for its section or row.
    lid = pc.binary_join_element_wise(history["marketplace"], history["listing_id"], ":")
    lid_codes = pc.dictionary_encode(lid.combine_chunks() if isinstance(lid, pa.ChunkedArray)
                                     else lid).indices.to_numpy(zero_copy_only=False)[ok]
    prior_w = 1.0 / np.bincount(lid_codes)[lid_codes]
    weights = prior_w.copy()
    ridge = Ridge(alpha=alpha, fit_intercept=True, solver="sparse_cg", tol=1e-6, max_iter=2000)
    for _ in range(max(1, irls_iterations)):
        ridge.fit(x, y, sample_weight=weights)
        resid = y - ridge.predict(x)
        mad = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826 or 1e-3
        weights = prior_w * np.minimum(1.0, 1.345 * mad / np.maximum(np.abs(resid), 1e-12))

    coef = ridge.coef_
    effects, offset = [], 0
    for term, vocab in zip(terms, vocabs, strict=True):
        effects.append(coef[offset:offset + len(vocab)] * scale(term))
        offset += len(vocab)
    group_level = ridge.intercept_ + coef[offset:] * _GROUP_SCALE

    # The latest window of each event is its prior level; venues pool their events.
    ev_of_group = (groups // (window.max() + 1)).astype(np.int64)
    latest: dict[int, tuple[int, float]] = {}
    for g, (e, lvl) in enumerate(zip(ev_of_group.tolist(), group_level.tolist(), strict=True)):
        w = int(groups[g] % (window.max() + 1))
        if e not in latest or w > latest[e][0]:
            latest[e] = (w, lvl)
    event_level = {feats.event.labels[e]: lvl for e, (_, lvl) in latest.items()}
    venue_of_event = np.zeros(len(feats.event.labels), dtype=np.int64)
    venue_of_event[feats.event.codes] = feats.venue.codes
    by_venue: dict[str, list[float]] = {}
    for e, (_, lvl) in latest.items():
        by_venue.setdefault(feats.venue.labels[venue_of_event[e]], []).append(lvl)
    venue_level = {v: float(np.median(ls)) for v, ls in by_venue.items()}

    # Calibrate on the log discount as scoring will compute it (leave-one-out levels).
    model = FairPriceModel(
        version="unsaved", trained_at=datetime.now(UTC), terms=terms, vocab=vocabs,
        effects=effects, event_level={}, venue_level=venue_level,
        global_level=float(np.median(list(event_level.values()))),
        calib_center=0.0, calib_scale=1.0,
    )
    rel = model.relative(feats)
    sub = feats.event.codes.astype(np.int64) * (window.max() + 1) + window
    loo, others = loo_median(np.unique(sub, return_inverse=True)[1], feats.log_price - rel)
    d = (loo + rel - feats.log_price)[ok & (others > 0)]
    q25, q50, q75 = np.percentile(d, [25, 50, 75])
    model.calib_center = float(q50)
    model.calib_scale = float(max((q75 - q25) / (2 * np.log(3.0)), 1e-3))
    model.event_level = event_level
    # Until sale records calibrate it, the interval is that of the asking prices of similar
    # seats (each listing against the estimate from the other listings of its event).
    est = (loo + rel)[ok & (others > 0)]
    model.intervals = calibrate(est, feats.log_price[ok & (others > 0)], feats.tier.labels,
                                feats.tier.codes[ok & (others > 0)], basis="asks")
    model.stats = {
        "rows": float(n), "events": float(len(event_level)), "groups": float(len(groups)),
        "columns": float(x.shape[1]), "resid_mad": mad,
        "loo_abs_err_median": float(np.median(np.abs(d - q50))),
    }
    logger.info("fair-price model fitted: %(stats)s", {"stats": model.stats})
    return model


def calibrate_on(model: FairPriceModel, batch: pa.Table | pa.RecordBatch,
                 reference_cents: np.ndarray, context: ScoringContext | None = None, *,
                 level: float = 0.8, basis: str = "sales") -> IntervalCalibration:
    """Calibrate ``model``'s per-tier intervals on ``batch`` (listings the point estimate
    was not fitted on) against ``reference_cents`` per row (what each seat is worth: sale
    records, or the sandbox's truth); sets and returns ``model.intervals``."""
    feats = extract(batch, context)
    lf, _ = model.log_fair(feats)
    ref = np.log(np.where(reference_cents > 0, reference_cents, np.nan).astype(np.float64))
    model.intervals = calibrate(lf, ref, feats.tier.labels, feats.tier.codes, level=level,
                                basis=basis)
    return model.intervals


def _onehot(codes: np.ndarray, width: int, values: np.ndarray | None = None
            ) -> sparse.csr_matrix:
    n = len(codes)
    return sparse.csr_matrix(
        (np.ones(n) if values is None else values, (np.arange(n), codes)),
        shape=(n, max(width, 1)), dtype=np.float64)


def slope_of(feats: Features, term: tuple[str, ...]) -> np.ndarray | float:
    """The numeric variable a slope term's effect multiplies (1 for a plain term): with
    ``SLOPE_DEPTH`` in the term, the row depth in tens of rows, centred on row 10 (0 when
    the row is unknown)."""
    if SLOPE_DEPTH not in term:
        return 1.0
    return np.nan_to_num((feats.row_depth - 10.0) / 10.0, nan=0.0)


def _combine(feats: Features, term: tuple[str, ...]) -> tuple[np.ndarray, list[list[str]],
                                                               list[int]]:
    cats = [feats.cat(name) for name in term if name != SLOPE_DEPTH]
    sizes = [len(c.labels) for c in cats]
    combined = np.zeros(len(feats), dtype=np.int64)
    for c, s in zip(cats, sizes, strict=True):
        combined = combined * s + c.codes
    return combined, [c.labels for c in cats], sizes


def _present(combined: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct combination codes and, per row, the index of its code among them."""
    if total <= _DENSE_LIMIT:
        present = np.flatnonzero(np.bincount(combined, minlength=total))
        where = np.full(total, -1, dtype=np.int64)
        where[present] = np.arange(len(present))
        return present, where[combined]
    present, inverse = np.unique(combined, return_inverse=True)
    return present, inverse


def _decode(codes: np.ndarray, labels: list[list[str]], sizes: list[int]) -> list[str]:
    """The keys ("label|label|...") of combination ``codes``, built column-wise: a batch
    has about as many seat combinations as listings, and decoding them one at a time in
    Python was a quarter of a writer's scoring time."""
    parts = []
    for lab, s in zip(reversed(labels), reversed(sizes), strict=True):
        codes, r = np.divmod(codes, s)
        parts.append(pa.array(lab, pa.string()).take(pa.array(r)))
    if len(parts) == 1:
        return parts[0].to_pylist()
    return pc.binary_join_element_wise(*reversed(parts), "|").to_pylist()


def term_keys(feats: Features, term: tuple[str, ...]) -> tuple[list[str], np.ndarray]:
    """The distinct combination keys of ``term`` and each row's index among them."""
    combined, labels, sizes = _combine(feats, term)
    present, inverse = _present(combined, int(np.prod(sizes, dtype=np.int64)))
    return _decode(present, labels, sizes), inverse


def term_index(feats: Features, term: tuple[str, ...], vocab: dict[str, int]) -> np.ndarray:
    """Per row, the vocabulary index of its ``term`` combination (-1 when never seen)."""
    keys, inverse = term_keys(feats, term)
    table = np.fromiter((vocab.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
    return table[inverse] if len(keys) else np.full(len(feats), -1, dtype=np.int64)


__all__ = ["LEGACY_TERMS", "SLOPE_DEPTH", "TERMS", "TERM_PENALTY", "FairPriceModel",
           "calibrate_on", "fit", "term_index", "term_keys"]
