"""The deal-scoring interface the engine calls, and a baseline until the model lands.

A ``Scorer`` takes a committed listings batch and returns it with four more columns:
``deal_score`` (float 0-100, 50 = at fair value, higher = cheaper), ``fair_value_cents``
(int64),
``deal_reason`` (string a person can read) and ``model_version`` (string). Scoring is
vectorised over the whole batch: no Python loop per listing.

Plug a model in with ``RIPCITY_SCORER=module:factory`` (``factory(database_url)``
returns a ``Scorer``); without it ``engine.deals:create_scorer`` is used when that module
exists, and ``BaselineScorer`` otherwise. A scorer may also provide
``make_context(batch, now)`` (else the engine passes a ``ScoringContext``) and
``publish(scored)`` (e.g. to store scores; called by the scorer actor after scoring).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

SCORE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("deal_score", pa.float64()),
    pa.field("fair_value_cents", pa.int64()),
    pa.field("deal_reason", pa.string()),
    pa.field("model_version", pa.string()),
)
DEFAULT_FACTORY = "engine.deals:create_scorer"


@dataclasses.dataclass(frozen=True, slots=True)
class ScoringContext:
    """What the engine knows when it scores a batch."""

    now: datetime
    database_url: str | None = None


@runtime_checkable
class Scorer(Protocol):
    """Adds the ``SCORE_FIELDS`` columns to a listings batch."""

    model_version: str

    def score(self, batch: pa.RecordBatch, context: Any) -> pa.RecordBatch: ...


class BaselineScorer:
    """Fair value = the event's median all-in price within the batch; the score is
    50 + the discount in percent, clipped to 0-100 (20 % below fair value scores 70).

    Deliberately simple: it gives the pipeline real columns to carry until the fair-price
    model replaces it.
    """

    model_version = "baseline-median-1"

    def __init__(self, database_url: str | None = None) -> None:
        del database_url  # the baseline needs nothing but the batch

    def score(self, batch: pa.RecordBatch, context: Any = None) -> pa.RecordBatch:
        table = pa.Table.from_batches([batch])
        if table.num_rows == 0:
            fair = pa.array([], pa.int64())
        else:
            medians = table.group_by("source_event_id").aggregate(
                [("total_cents", "approximate_median")])
            joined = table.select(["source_event_id"]).append_column(
                "_row", pa.array(range(table.num_rows), pa.int64())).join(
                medians, "source_event_id").sort_by("_row")
            fair = pc.cast(pc.round(joined["total_cents_approximate_median"]), pa.int64())
        total = pc.cast(table["total_cents"], pa.float64()) if table.num_rows else pa.array(
            [], pa.float64())
        fair_f = pc.cast(fair, pa.float64())
        discount = pc.if_else(pc.greater(fair_f, 0.0),
                              pc.divide(pc.subtract(fair_f, total), fair_f),
                              pa.scalar(None, pa.float64()))
        score = pc.max_element_wise(pc.min_element_wise(
            pc.add(pc.multiply(discount, 100.0), 50.0), 100.0), 0.0)
        pct = pc.cast(pc.round(pc.multiply(pc.abs(discount), 100.0)), pa.int64())
        word = pc.if_else(pc.greater_equal(discount, 0.0), pa.scalar("% below"),
                          pa.scalar("% above"))
        reason = pc.binary_join_element_wise(
            pc.cast(pct, pa.string()), word, " this event's median all-in price", "")
        out = batch
        for field, column in zip(SCORE_FIELDS, (
                score, fair, reason,
                pa.repeat(pa.scalar(self.model_version), batch.num_rows)), strict=True):
            out = out.append_column(field, _array(column))
        return out


def _array(column: Any) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def load_scorer(spec: str | None = None, database_url: str | None = None) -> Any:
    """The configured scorer (see the module docstring for the lookup order)."""
    spec = spec or os.environ.get("RIPCITY_SCORER")
    if not spec:
        try:
            importlib.import_module(DEFAULT_FACTORY.split(":")[0])
        except ImportError:
            return BaselineScorer()
        spec = DEFAULT_FACTORY
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr or "create_scorer")
    except (ImportError, AttributeError) as err:
        if spec == DEFAULT_FACTORY:
            return BaselineScorer()
        raise ValueError(f"RIPCITY_SCORER={spec!r} cannot be loaded ({err}); expected "
                         "'module:factory' where factory(database_url) returns a Scorer") from err
    return factory(database_url)


def make_context(scorer: Any, batch: pa.RecordBatch, database_url: str | None) -> Any:
    now = datetime.now(UTC)
    maker = getattr(scorer, "make_context", None)
    return maker(batch, now) if maker else ScoringContext(now, database_url)
