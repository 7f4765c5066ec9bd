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
from engine.gc_tuning import tune_for_bulk_data

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
        tune_for_bulk_data()

    def score(self, batch: pa.RecordBatch, context: ScoringContext | None = None
              ) -> pa.RecordBatch:
        """The batch with the score columns (``engine.deals.SCORE_FIELDS``); ``context``
        defaults to the scorer's own (the database's events, for the engine's scorer)."""
        return self._scorer.score(batch, context)

    def score_and_store(self, listings: pa.RecordBatch, work_id: int | None = None
                        ) -> ScoreSummary:
        """Score one committed batch and store the scores on ``listings_current``; its
        post-commit work ``work_id`` is finished in the same transaction."""
        scored = self.score(listings)
        if self._pool is not None:
            from storage.post_commit import finish_work
            from storage.scores import write_scores

            with self._pool.connection() as conn, conn.transaction():
                write_scores(conn, scored)
                finish_work(conn, work_id, "score")
        deals = 0
        if scored.num_rows:
            deals = int(pc.sum(pc.greater_equal(scored.column("deal_score"),
                                                DEAL_THRESHOLD)).as_py() or 0)
        return ScoreSummary(scored.num_rows, deals, self.model_version())

    def redo_pending(self, everything: bool = False, limit: int = 100) -> int:
        """Score committed batches whose scoring was left undone (``storage.post_commit``):
        the due ones, or ``everything`` pending; returns how many were done."""
        from storage.post_commit import claim_due, fail_work, finish_work, listings_of
        from storage.scores import write_scores

        assert self._pool is not None, "redo_pending needs a database"
        done = 0
        for _ in range(limit):
            with self._pool.connection() as conn:
                failed: tuple[int, str] | None = None
                with conn.transaction():
                    work = claim_due(conn, "score", everything=everything)
                    if work is None:
                        break
                    try:
                        with conn.transaction():
                            write_scores(conn, self.score(listings_of(work)))
                            finish_work(conn, work.id, "score")
                        done += 1
                    except Exception as err:  # counted on the row, retried after a backoff
                        failed = (work.id, f"{type(err).__name__}: {err}")
                if failed is not None:
                    logger.warning("re-scoring batch %(id)d failed: %(err)s",
                                   {"id": failed[0], "err": failed[1]})
                    fail_work(conn, *failed)
                    break
        return done

    def pid(self) -> int:
        """This actor's process id (operators and the chaos tests kill it by it)."""
        import os

        return os.getpid()

    def model_version(self) -> str:
        return self._scorer.model_version
