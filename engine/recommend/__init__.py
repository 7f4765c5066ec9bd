"""Recommendations: the explainable model (``model``) and the job that refreshes every
user's picks from what storage holds (``job``), run by the maintenance loop."""

from engine.recommend.model import Catalog, Pick, Recommender, Signal

__all__ = ["Catalog", "Pick", "Recommender", "Signal"]
