"""``DealScorerActor``: a Ray actor that holds one model version and scores batches.

The engine keeps a fixed pool of them (``ray.util.ActorPool``). Put the model in the object
store once (``ray.put(model)``) and hand the reference to every actor, or let each actor load
a version from ``RIPCITY_DATA_DIR/models``. ``reload()`` swaps versions without restarting.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import ray

from engine.deals.registry import load_model
from engine.deals.scorer import DealScorer

if TYPE_CHECKING:
    import pyarrow as pa

    from engine.deals.model import FairPriceModel

logger = logging.getLogger(__name__)


@ray.remote(num_cpus=1, max_restarts=3, max_task_retries=2)
class DealScorerActor:
    """Scores Arrow listing batches with one fair-price model (see ``DealScorer.score``)."""

    def __init__(self, model: FairPriceModel | None = None, version: str | None = None,
                 directory: str | Path | None = None) -> None:
        self._directory = directory
        self._scorer = DealScorer(model if model is not None
                                  else load_model(version, directory))
        self._scored = 0

    def model_version(self) -> str:
        return self._scorer.model_version

    def reload(self, version: str | None = None) -> str:
        """Load ``version`` (default: the latest saved one) and score with it from now on."""
        self._scorer = DealScorer(load_model(version, self._directory))
        return self._scorer.model_version

    def set_model(self, model: FairPriceModel) -> str:
        self._scorer = DealScorer(model)
        return self._scorer.model_version

    def score(self, batch: pa.RecordBatch, context: object = None) -> pa.RecordBatch:
        out = self._scorer.score(batch, context)
        self._scored += batch.num_rows
        return out

    def scored(self) -> int:
        """Listings scored by this actor since it started."""
        return self._scored
