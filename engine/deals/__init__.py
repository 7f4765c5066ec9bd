"""Deal scoring: fair price per listing, a 0-100 deal score with a reason, price-history
signals, and buy-now-or-wait advice.

``DealScorer(model).score(batch, context)`` scores a batch with one fitted model;
``ModelScorer`` scores with the latest saved one (models are trained with ``fit`` /
``train_and_save`` and versioned under ``RIPCITY_DATA_DIR/models``). The engine runs a pool
of ``engine.deals.actor.DealScorerActor`` actors, not re-exported here, so that importing
this package does not import Ray.
"""

from __future__ import annotations

from engine.deals.buy_or_wait import BuyOrWaitModel, backtest, fit_buy_or_wait
from engine.deals.context import EVENT_CONTEXT_SCHEMA, SOURCE_MAP_SCHEMA, ScoringContext
from engine.deals.history import (
    event_signals,
    get_in_series,
    listing_signals,
    section_daily_lows,
    section_low_days,
    series_signals,
)
from engine.deals.model import FairPriceModel, fit
from engine.deals.registry import (
    ModelNotFoundError,
    list_versions,
    load_model,
    retrain_if_due,
    save_model,
    train_and_save,
)
from engine.deals.scorer import SCORE_FIELDS, DealScorer
from engine.deals.service import ModelScorer

__all__ = [
    "EVENT_CONTEXT_SCHEMA",
    "SCORE_FIELDS",
    "SOURCE_MAP_SCHEMA",
    "BuyOrWaitModel",
    "DealScorer",
    "FairPriceModel",
    "ModelNotFoundError",
    "ModelScorer",
    "ScoringContext",
    "backtest",
    "event_signals",
    "fit",
    "fit_buy_or_wait",
    "get_in_series",
    "list_versions",
    "listing_signals",
    "load_model",
    "retrain_if_due",
    "save_model",
    "section_daily_lows",
    "section_low_days",
    "series_signals",
    "train_and_save",
]
