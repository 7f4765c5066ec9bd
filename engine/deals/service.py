"""``ModelScorer``: how the engine scores, with whichever model is current.

It scores with the latest saved model and picks up a newer version (scheduled or on-demand
retraining) without a restart. Before any model exists ``ensure_model`` trains and saves
one (one process at a time) from the database's history, or from the batch itself on a new
install, when either has enough listings; the deal scorer, failing that, fits a cold-start
model on the batch so the first crawl already gets scores (marked ``coldstart-`` in
``model_version``).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
from filelock import Timeout

from engine.deals.context import ScoringContext
from engine.deals.model import fit
from engine.deals.registry import ModelNotFoundError, load_model, models_dir, retrain_if_due
from engine.deals.scorer import SCORE_FIELDS, DealScorer

logger = logging.getLogger(__name__)

_MIN_TRAIN_ROWS = 2_000


class ModelScorer:
    """Scores with the latest model (hot reload) and the database's event context."""

    def __init__(self, database_url: str | None = None, directory: str | Path | None = None,
                 reload_every_s: float = 30.0, context_ttl_s: float = 60.0) -> None:
        self._url = database_url
        self._dir = models_dir(directory)
        self._reload_every = reload_every_s
        self._context_ttl = context_ttl_s
        self._checked = 0.0
        self._scorer: DealScorer | None = None
        self._coldstart: DealScorer | None = None  # until a saved model exists
        self._context: ScoringContext | None = None
        self._context_at = 0.0
        self._trained_at = -1e9
        self._maybe_reload(force=True)

    @property
    def model_version(self) -> str:
        return self._scorer.model_version if self._scorer else "none"

    def _maybe_reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self._reload_every:
            return
        self._checked = now
        latest = self._dir / "LATEST"
        if not latest.is_file():
            return
        version = latest.read_text().strip()
        if self._scorer is None or self._scorer.model_version != version:
            try:
                self._scorer = DealScorer(load_model(version, self._dir))
                logger.info("deal scorer now uses model %(v)s", {"v": version})
            except ModelNotFoundError as err:
                logger.warning("cannot load model: %(err)s", {"err": err})

    def context(self) -> ScoringContext:
        """Events and marketplace ids from the database (cached for ``context_ttl_s``)."""
        if self._url is None:
            return ScoringContext()
        if self._context is None or time.monotonic() - self._context_at > self._context_ttl:
            from engine.deals.store import load_context

            self._context = load_context(self._url)
            self._context_at = time.monotonic()
        return self._context

    def ensure_model(self, batch: pa.RecordBatch, context: ScoringContext | None = None,
                     wait_s: float = 120.0) -> bool:
        """Make sure a saved model is loaded: the latest one, or, while there is none, one
        trained now (``retrain_if_due``: of the processes that find none, one trains and the
        others load what it saved) on the database's history, or on ``batch`` itself while
        the database holds fewer than ``_MIN_TRAIN_ROWS`` listings (a new install's first
        chunk, scored before it is written). False when neither has that many, or another
        process's training holds the lock past ``wait_s`` (or there is no database)."""
        self._maybe_reload(force=self._scorer is None)
        if self._scorer is not None or self._url is None:
            return self._scorer is not None
        ctx = context if context is not None else self.context()

        def load() -> tuple[pa.Table, ScoringContext]:
            from engine.deals.store import load_history

            assert self._url is not None
            history = load_history(self._url)
            if history.num_rows >= _MIN_TRAIN_ROWS:
                return history, ctx
            if batch.num_rows >= _MIN_TRAIN_ROWS:
                return pa.Table.from_batches([batch]), ctx
            raise ValueError(f"too few listings to train a first model on "
                             f"({batch.num_rows} new, fewer than {_MIN_TRAIN_ROWS} stored)")

        try:
            retrain_if_due(load, every=timedelta.max, directory=self._dir, wait_s=wait_s)
        except (ValueError, Timeout) as err:
            logger.info("no deal model yet: %(err)s", {"err": err})
            return False
        self._maybe_reload(force=True)
        return self._scorer is not None

    def _train_initial(self, batch: pa.RecordBatch, context: ScoringContext) -> DealScorer | None:
        """A saved model (``ensure_model``, tried at most every 5 minutes); else the
        cold-start model, fitted once on the first batch that allows it and kept until a
        saved model appears (fitting per batch was the scorer's main cost; a model scores
        new events from their own listings anyway)."""
        if self._url is not None and time.monotonic() - self._trained_at > 300:
            self._trained_at = time.monotonic()
            if self.ensure_model(batch, context):
                return self._scorer
        if self._coldstart is not None:
            return self._coldstart
        try:
            model = fit(batch, context)
        except ValueError:
            return None
        model.version = "coldstart-" + model.trained_at.strftime("%Y%m%dT%H%M%SZ")
        self._coldstart = DealScorer(model)
        return self._coldstart

    def score(self, batch: pa.RecordBatch, context: ScoringContext | None = None
              ) -> pa.RecordBatch:
        """Scores with the latest model; without one, a cold-start fit on the batch; with
        too few listings even for that, null scores (never an exception). ``context``
        defaults to the database's (``context()``)."""
        ctx = context if context is not None else self.context()
        self._maybe_reload()
        scorer = self._scorer or self._train_initial(batch, ctx)
        if scorer is not None:
            return scorer.score(batch, ctx)
        out = batch
        for field in SCORE_FIELDS:
            col = pa.nulls(batch.num_rows, field.type)
            if field.name == "model_version":
                col = pa.array(["none"] * batch.num_rows, pa.string())
            out = out.append_column(field, col)
        return out
