"""``DealScorer``: deal scores with one fitted ``FairPriceModel``, over whole Arrow batches.

``score(batch, context)`` returns the batch with five columns added: ``deal_score``
(0-100, comparable across events), ``deal_rank`` (1 = best in its event, within the batch),
``fair_value_cents``, ``deal_reason`` and ``model_version``. No Python loop runs per
listing: features, effects, leave-one-out levels, ranks and reason text are column kernels.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from engine.deals.context import ScoringContext
from engine.deals.features import extract
from engine.deals.groups import loo_median, lowest_in_group, within_group_rank
from engine.deals.history import section_low_days
from engine.deals.reasons import deal_reasons

if TYPE_CHECKING:
    from engine.deals.features import Features
    from engine.deals.model import FairPriceModel

logger = logging.getLogger(__name__)

#: The columns ``DealScorer.score`` adds (storage's listings_current has the same names).
SCORE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("deal_score", pa.float64()),
    pa.field("deal_rank", pa.int32()),
    pa.field("fair_value_cents", pa.int64()),
    pa.field("deal_reason", pa.string()),
    pa.field("model_version", pa.string()),
)


def box_office_pooled(feats: Features, log_fair: np.ndarray, min_others: int = 2
                      ) -> np.ndarray:
    """Log discount (fair / all-in) per listing, box-office seats pooled per event.

    A box-office (``primary``) seat is sold at the face value the event's organiser set for
    it, which tracks what the seat is worth; how good a deal it is, is the event-wide gap
    between face values and the resale market, so each one gets the median discount of the
    event's *other* box-office listings (when there are ``min_others``) instead of its own,
    which would mostly measure how far our estimate of that one seat is off."""
    disc = log_fair - feats.log_price
    if "PRIMARY" not in feats.kind.labels:
        return disc
    primary = feats.kind.codes == feats.kind.labels.index("PRIMARY")
    groups = np.where(primary, feats.event.codes, -1).astype(np.int64)
    pooled, others = loo_median(groups, np.where(primary, disc, np.nan))
    return np.where(primary & (others >= min_others) & np.isfinite(disc), pooled, disc)


class DealScorer:
    """Scores listing batches with one fitted ``FairPriceModel``."""

    def __init__(self, model: FairPriceModel) -> None:
        self.model = model

    @property
    def model_version(self) -> str:
        return self.model.version

    def score(self, batch: pa.RecordBatch, context: ScoringContext | None = None
              ) -> pa.RecordBatch:
        """The batch with the ``SCORE_FIELDS`` columns appended (replaced if present)."""
        ctx = context if context is not None else ScoringContext()
        if isinstance(batch, pa.Table):
            batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else \
                pa.RecordBatch.from_pylist([], schema=batch.schema)
        feats = extract(batch, ctx)
        log_fair, _ = self.model.log_fair(feats)
        priced = np.isfinite(feats.log_price) & np.isfinite(log_fair)
        fair = np.where(np.isfinite(log_fair), np.rint(np.exp(np.clip(log_fair, 0, 30))), 0)
        fair = fair.astype(np.int64)
        score = np.where(priced, self.model.score_of(box_office_pooled(feats, log_fair)),
                         np.nan)
        rank = within_group_rank(feats.event.codes, score)

        n_sec = len(feats.section.labels)
        ev_sec = feats.event.codes.astype(np.int64) * n_sec + feats.section.codes
        _, ev_sec = np.unique(ev_sec, return_inverse=True)
        lowest_now = lowest_in_group(ev_sec, feats.total_cents)
        low_days = None
        if ctx.section_lows is not None and ctx.section_lows.num_rows:
            low_days = section_low_days(
                ctx.section_lows,
                pa.array(feats.event.labels, pa.string()).take(feats.event.codes),
                pa.array(feats.section.labels, pa.string()).take(feats.section.codes),
                feats.total_cents)
        section_col = batch.column("section") if "section" in batch.schema.names else \
            pa.array(["?"] * batch.num_rows)
        section_col = section_col.fill_null("?")
        reason = deal_reasons(fair, feats.total_cents, section_col, low_days, lowest_now)

        cols = {
            "deal_score": pa.array(score, pa.float64(), mask=~priced),
            "deal_rank": pa.array(rank, pa.int32(), mask=~priced),
            "fair_value_cents": pa.array(fair, pa.int64(), mask=~np.isfinite(log_fair)),
            "deal_reason": reason,
            "model_version": pa.array([self.model.version] * batch.num_rows, pa.string())
            if batch.num_rows < 1024 else
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(batch.num_rows, np.int32)),
                                           pa.array([self.model.version])).cast(pa.string()),
        }
        for name, arr in cols.items():
            i = batch.schema.get_field_index(name)
            batch = batch.set_column(i, name, arr) if i >= 0 else batch.append_column(name, arr)
        return batch
