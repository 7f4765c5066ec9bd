"""``DealScorerActor``: the Ray actor that scores committed listing batches.

The engine keeps a fixed set of them fed round-robin (Ray's actor-pool pattern): each holds
the engine's ``ModelScorer`` (the latest saved model, reloaded when a newer one is saved,
with the database's event context) and writes the scores onto ``listings_current``. The
batch arrives from the object store zero-copy, and only counts travel back. Given a
``model`` (e.g. one ``ray.put`` shared by a pool), an actor scores with that model instead.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from engine.deals.scorer import DealScorer
from engine.deals.service import ModelScorer

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from engine.deals.context import ScoringContext
    from engine.deals.model import FairPriceModel

logger = logging.getLogger(__name__)

#: a deal score (0-100) at least this high counts as a deal in the summary
DEAL_THRESHOLD = 70.0


@dataclasses.dataclass(slots=True)
class ScoreSummary:
    """What one stored batch of scores came to."""

    rows: int = 0
    deals: int = 0
    model_version: str = ""


class DealScorerActor:
    """Scores listing batches and stores their scores (with a ``database_url``)."""

    def __init__(self, database_url: str | None = None, *, model: FairPriceModel | None = None,
                 models_dir: str | Path | None = None) -> None:
        self._scorer: DealScorer | ModelScorer = (
            DealScorer(model) if model is not None
            else ModelScorer(database_url, directory=models_dir))
        self._pool = None
        if database_url:
            from storage.db import pool

            self._pool = pool(database_url, min_size=1, max_size=1)

    def score(self, batch: pa.RecordBatch, context: ScoringContext | None = None
              ) -> pa.RecordBatch:
        """The batch with the score columns (``engine.deals.SCORE_FIELDS``); ``context``
        defaults to the scorer's own (the database's events, for the engine's scorer)."""
        return self._scorer.score(batch, context)

    def score_and_store(self, listings: pa.RecordBatch) -> ScoreSummary:
        """Score one committed batch and store the scores on ``listings_current``."""
        scored = self.score(listings)
        if self._pool is not None:
            from storage.scores import write_scores

            with self._pool.connection() as conn:
                write_scores(conn, scored)
        deals = 0
        if scored.num_rows:
            deals = int(pc.sum(pc.greater_equal(scored.column("deal_score"),
                                                DEAL_THRESHOLD)).as_py() or 0)
        return ScoreSummary(scored.num_rows, deals, self.model_version())

    def model_version(self) -> str:
        return self._scorer.model_version
