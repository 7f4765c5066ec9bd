"""Refreshing every user's picks: read the signals and upcoming events from storage, fit the
model, recommend, write the picks (one transaction), and queue the weekly email of picks for
the users who opted in. The maintenance loop runs it."""

from __future__ import annotations

import logging
import time
from typing import Any

from engine.recommend.model import Catalog, Recommender, as_signals
from storage import recommendations as store
from storage.db import connect

logger = logging.getLogger(__name__)

#: picks kept per user
PICKS = 20


def build_catalog(rows: list[store.CatalogRow]) -> Catalog:
    return Catalog(event_ids=[r.event_id for r in rows],
                   performers=[list(r.performers or []) for r in rows],
                   venues=[r.venue for r in rows], categories=[r.category for r in rows],
                   cities=[r.city for r in rows], get_in_cents=[r.get_in_cents for r in rows],
                   popularity=[float(r.popularity) for r in rows],
                   best_deal_score=[r.best_deal_score for r in rows])


def refresh_recommendations(database_url: str, k: int = PICKS) -> dict[str, Any]:
    """Fit on everyone's signals and rewrite the picks of every user who has any; users
    with none are served the popular events of their city at read time."""
    t0 = time.process_time()
    with connect(database_url) as conn:
        catalog = build_catalog(store.catalog(conn))
        signals = as_signals(store.signals(conn))
        model = Recommender().fit(catalog, signals)
        users = sorted({s.user_id for s in signals})
        picks = model.recommend(users, k) if users else {}
        written = store.write_picks(conn, {u: [(p.event_id, p.score, p.reason) for p in ps]
                                           for u, ps in picks.items()}) if picks else 0
        emails = store.queue_weekly_picks(conn)
    return {"users": len(users), "events": len(catalog), "picks": written,
            "weekly_emails_queued": emails, "cpu_s": round(time.process_time() - t0, 3)}
