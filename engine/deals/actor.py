"""``DealScorer`` actor: scores committed listing batches with the configured ``Scorer``.

Scorers are a fixed set of actors fed round-robin (Ray's actor-pool pattern); the batch
arrives from the object store zero-copy, and only counts travel back.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from engine.deals.scoring import load_scorer, make_context

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

#: a deal score (0-100) at least this high counts as a deal in the summary
DEAL_THRESHOLD = 70.0


@dataclasses.dataclass(slots=True)
class ScoreSummary:
    rows: int = 0
    deals: int = 0
    model_version: str = ""


class DealScorer:
    """Holds one scorer (its model loaded once per actor)."""

    def __init__(self, database_url: str | None = None, spec: str | None = None,
                 store: bool = True) -> None:
        self._url = database_url
        self._scorer = load_scorer(spec, database_url)
        self._pool = None
        if store and database_url:
            from storage.db import pool

            self._pool = pool(database_url, min_size=1, max_size=1)

    def score(self, listings: pa.RecordBatch) -> ScoreSummary:
        """Score one committed batch and store the scores on ``listings_current``."""
        scored = self._scorer.score(listings, make_context(self._scorer, listings, self._url))
        publish = getattr(self._scorer, "publish", None)
        if publish is not None:
            publish(scored)
        elif self._pool is not None:
            from storage.scores import write_scores

            with self._pool.connection() as conn:
                write_scores(conn, scored)
        deals = 0
        if scored.num_rows:
            deals = int(pc.sum(pc.greater_equal(scored.column("deal_score"),
                                                DEAL_THRESHOLD)).as_py() or 0)
        return ScoreSummary(scored.num_rows, deals, self.model_version())

    def model_version(self) -> str:
        version = getattr(self._scorer, "model_version", "")
        return str(version() if callable(version) else version)
