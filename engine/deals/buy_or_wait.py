"""Buy now or wait: will an event's get-in price be lower at the horizon's end?

Learned from the stored get-in series (``engine.deals.history.get_in_series``): for every
past observation we know what the get-in price did next, which is both the training label
and, with events held out, an honest backtest. Features are the series' own shape (recent
change, distance from its running low, listing-count change) and days to the event.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

if TYPE_CHECKING:
    from engine.deals.context import ScoringContext

logger = logging.getLogger(__name__)

_DAY = 86400.0
FEATURES = ("days_to_event", "chg_prev", "chg_first", "above_low", "above_mean",
            "listings_chg_prev", "listings_chg_first", "log_listings", "obs_age_days")


@dataclasses.dataclass(slots=True)
class _Frame:
    x: np.ndarray
    y: np.ndarray  # 1 = lower within the horizon (wait), 0 = not; -1 = unknown yet
    event: np.ndarray  # object: event key per row
    latest: np.ndarray  # bool: the event's latest observation
    get_in: np.ndarray
    change: np.ndarray  # log(price at the horizon's end / now); NaN where unknown yet


def _frame(series: pa.Table, context: ScoringContext | None, horizon_days: float) -> _Frame:
    keys = series["event_key"].to_pylist()
    t = pc.cast(pc.cast(series["observed_at"], pa.timestamp("us", tz="UTC")),
                pa.int64()).to_numpy(zero_copy_only=False) / 1e6
    p = series["get_in_cents"].to_numpy(zero_copy_only=False).astype(np.float64)
    cnt = (series["listings"].to_numpy(zero_copy_only=False).astype(np.float64)
           if "listings" in series.schema.names else np.ones(len(p)))
    uniq = sorted(set(keys))
    starts = (context.event_info(uniq)[1] if context is not None
              else np.full(len(uniq), np.nan))
    start_of = dict(zip(uniq, starts, strict=True))
    key_arr = np.asarray(keys, dtype=object)
    rows_x, rows_y, rows_e, rows_latest, rows_p, rows_c = [], [], [], [], [], []
    for key in uniq:  # one iteration per event, not per listing
        idx = np.flatnonzero(key_arr == key)
        idx = idx[np.argsort(t[idx])]
        te, pe, ne, st = t[idx], np.log(p[idx]), np.log1p(cnt[idx]), start_of[key]
        if np.isfinite(st):
            keep = te < st
            te, pe, ne = te[keep], pe[keep], ne[keep]
        if len(te) == 0:
            continue
        run_min = np.minimum.accumulate(pe)
        run_mean = np.cumsum(pe) / np.arange(1, len(pe) + 1)
        prev_p = np.concatenate(([pe[0]], pe[:-1]))
        prev_n = np.concatenate(([ne[0]], ne[:-1]))
        x = np.column_stack([
            (st - te) / _DAY if np.isfinite(st) else np.full(len(te), np.nan),
            pe - prev_p, pe - pe[0], pe - run_min, pe - run_mean,
            ne - prev_n, ne - ne[0], ne, (te - te[0]) / _DAY,
        ])
        horizon_end = te + horizon_days * _DAY
        if np.isfinite(st):
            horizon_end = np.minimum(horizon_end, st)
        j = np.searchsorted(te, horizon_end, side="right") - 1
        # "wait" is right when the get-in price at the horizon's end is lower than now
        later = pe[np.maximum(j, 0)]
        full = (horizon_end <= te[-1]) & (j > np.arange(len(te)))  # horizon observed
        y = np.where(full, (later < pe - 1e-9).astype(int), -1)
        rows_c.append(np.where(full, later - pe, np.nan))
        rows_x.append(x)
        rows_y.append(y)
        rows_e += [key] * len(te)
        rows_latest.append(np.arange(len(te)) == len(te) - 1)
        rows_p.append(np.exp(pe))
    if not rows_x:
        return _Frame(np.zeros((0, len(FEATURES))), np.zeros(0, int), np.zeros(0, object),
                      np.zeros(0, bool), np.zeros(0), np.zeros(0))
    return _Frame(np.vstack(rows_x), np.concatenate(rows_y), np.asarray(rows_e, dtype=object),
                  np.concatenate(rows_latest), np.concatenate(rows_p), np.concatenate(rows_c))


def _classifier() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=120, max_depth=3, learning_rate=0.06,
                                          l2_regularization=1.0, min_samples_leaf=20,
                                          random_state=0)


def _regressor() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=120, max_depth=3, learning_rate=0.06,
                                         l2_regularization=1.0, min_samples_leaf=20,
                                         loss="absolute_error", random_state=0)


@dataclasses.dataclass(slots=True)
class BuyOrWaitModel:
    """Predicts, per event, whether the get-in price will be lower within the horizon."""

    classifier: HistGradientBoostingClassifier | None
    horizon_days: float
    base_rate: float  # share of "lower later" outcomes in training (the naive answer's odds)
    regressor: HistGradientBoostingRegressor | None = None  # log change over the horizon
    base_change: float = 0.0  # median log change in training (without a regressor)
    samples: int = 0  # labelled observations it was trained on
    events: int = 0

    def advise(self, series: pa.Table, context: ScoringContext | None = None) -> pa.Table:
        """One row per event (its latest observation): ``event_key``, ``get_in_cents``,
        ``direction`` ("down" / "up or flat"), ``advice`` ("wait" / "buy now"),
        ``confidence`` (probability of the advised outcome, 0.5-1),
        ``expected_change_pct`` (median get-in change expected over the horizon)."""
        fr = _frame(series, context, self.horizon_days)
        rows = np.flatnonzero(fr.latest)
        if self.classifier is None or len(rows) == 0:
            prob = np.full(len(rows), self.base_rate)
        else:
            prob = self.classifier.predict_proba(fr.x[rows])[:, 1]
        if self.regressor is None or len(rows) == 0:
            change = np.full(len(rows), self.base_change)
        else:
            change = self.regressor.predict(fr.x[rows])
        down = prob >= 0.5
        return pa.table({
            "event_key": pa.array(fr.event[rows].tolist(), pa.string()),
            "get_in_cents": pa.array(np.rint(fr.get_in[rows]).astype(np.int64)),
            "direction": pa.array(np.where(down, "down", "up or flat").tolist()),
            "advice": pa.array(np.where(down, "wait", "buy now").tolist()),
            "confidence": pa.array(np.where(down, prob, 1 - prob)),
            "expected_change_pct": pa.array(np.expm1(change) * 100.0),
            "horizon_days": pa.array(np.full(len(rows), self.horizon_days)),
        })


def fit_buy_or_wait(series: pa.Table, context: ScoringContext | None = None,
                    horizon_days: float = 7.0) -> BuyOrWaitModel:
    """Train on every observation whose horizon outcome is known."""
    fr = _frame(series, context, horizon_days)
    known = fr.y >= 0
    y = fr.y[known]
    base = float(y.mean()) if len(y) else 0.5
    change = fr.change[known]
    base_change = float(np.median(change)) if len(change) else 0.0
    n_events = len(set(fr.event[known].tolist()))
    if len(y) < 30 or len(set(y.tolist())) < 2:
        logger.warning("buy-or-wait: %(n)d labelled observations, using the base rate only",
                       {"n": len(y)})
        return BuyOrWaitModel(None, horizon_days, base, None, base_change, len(y), n_events)
    clf = _classifier().fit(fr.x[known], y)
    reg = _regressor().fit(fr.x[known], change)
    return BuyOrWaitModel(clf, horizon_days, base, reg, base_change, len(y), n_events)


def backtest(series: pa.Table, context: ScoringContext | None = None,
             horizon_days: float = 7.0, folds: int = 4) -> dict[str, float]:
    """Held-out events (grouped k-fold): the model's accuracy, Brier score and realised
    saving beside two naive answers: "prices always fall" (always wait, probability 1) and
    the training folds' base rate (the majority answer, its share as the probability).

    The realised saving of an advice is, per ticket and as a share of the price now, what
    waiting saved (the get-in price now minus at the horizon's end) when it said wait, and
    0 when it said buy now; "always buy" saves 0 by definition."""
    fr = _frame(series, context, horizon_days)
    known = fr.y >= 0
    x, y, ev, change = fr.x[known], fr.y[known], fr.event[known], fr.change[known]
    events = np.array(sorted(set(ev.tolist())), dtype=object)
    if len(y) < 30 or len(events) < 2:
        return {"backtest_accuracy": float("nan"), "naive_accuracy": float("nan"),
                "samples": float(len(y)), "events": float(len(events))}
    rng = np.random.default_rng(0)
    fold_of = dict(zip(events.tolist(), rng.permutation(len(events)) % folds, strict=True))
    fold = np.array([fold_of[e] for e in ev])
    prob = np.full(len(y), np.nan)
    base = np.full(len(y), np.nan)
    for k in range(folds):
        test, train = fold == k, fold != k
        if not test.any() or len(set(y[train].tolist())) < 2:
            continue
        prob[test] = _classifier().fit(x[train], y[train]).predict_proba(x[test])[:, 1]
        base[test] = y[train].mean()
    done = np.isfinite(prob)
    y, prob, base, change = y[done], prob[done], base[done], change[done]
    saved = -np.expm1(change)  # share of today's price that waiting saved

    def saving(wait: np.ndarray) -> float:
        return float(np.mean(np.where(wait, saved, 0.0)))

    return {
        "backtest_accuracy": float(np.mean((prob >= 0.5) == (y == 1))),
        "naive_accuracy": float(y.mean()),  # "always wait": right whenever the price fell
        "majority_accuracy": float(np.mean((base >= 0.5) == (y == 1))),
        "brier": float(np.mean((prob - y) ** 2)),
        "naive_brier": float(np.mean((1.0 - y) ** 2)),
        "base_rate_brier": float(np.mean((base - y) ** 2)),
        "saving_pct": 100.0 * saving(prob >= 0.5),
        "naive_saving_pct": 100.0 * saving(np.ones(len(y), dtype=bool)),
        "majority_saving_pct": 100.0 * saving(base >= 0.5),
        "samples": float(len(y)),
        "events": float(len(events)),
        "horizon_days": horizon_days,
    }
