"""Event and venue identity graded against the sandbox's truth (``/_sandbox/truth/events``).

Pairwise precision and recall: over every pair of marketplace events (and of marketplace
venue ids) that both the database and the truth know, a pair is predicted when we hold both
as one event (venue), and true when the world does. Reported by ``ripcity run --once`` on
the sandbox and by ``bench.pipeline``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Hashable, Mapping
from typing import Any

logger = logging.getLogger(__name__)


def _pairs(counts: Counter) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def pairwise(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable]
             ) -> dict[str, Any]:
    """Precision and recall of the clustering ``predicted`` (key -> cluster) against
    ``truth`` (key -> cluster), over the keys both hold (1.0 when there is no pair)."""
    keys = predicted.keys() & truth.keys()
    both = _pairs(Counter((predicted[k], truth[k]) for k in keys))
    said = _pairs(Counter(predicted[k] for k in keys))
    real = _pairs(Counter(truth[k] for k in keys))
    return {"precision": round(both / said, 4) if said else 1.0,
            "recall": round(both / real, 4) if real else 1.0,
            "pairs": real, "records": len(keys),
            "clusters": len({predicted[k] for k in keys}),
            "true_clusters": len({truth[k] for k in keys})}


def misses(predicted: Mapping[Hashable, Hashable], truth: Mapping[Hashable, Hashable],
           limit: int = 5) -> list[str]:
    """A few wrongly split and wrongly joined clusters, for the report."""
    keys = predicted.keys() & truth.keys()
    by_truth: dict[Hashable, set] = {}
    by_pred: dict[Hashable, set] = {}
    for k in keys:
        by_truth.setdefault(truth[k], set()).add(predicted[k])
        by_pred.setdefault(predicted[k], set()).add(truth[k])
    out = [f"{t} split over {sorted(p)}" for t, p in by_truth.items() if len(p) > 1]
    out += [f"{p} joins {sorted(t)}" for p, t in by_pred.items() if len(t) > 1]
    return out[:limit]


def grade_against_sandbox(database_url: str, sandbox_url: str) -> dict[str, Any]:
    """Event and venue identity in the database against the sandbox's truth."""
    import httpx
    import psycopg

    from storage.events.assignments import event_assignments, venue_assignments

    truth = httpx.get(f"{sandbox_url.rstrip('/')}/_sandbox/truth/events", timeout=60)
    truth.raise_for_status()
    world = truth.json()["events"]
    true_events = {(m, i): e["world_event_id"] for e in world for m, i in e["ids"].items()}
    true_venues = {(m, i): e.get("venue_key", e["venue"]) for e in world
                   for m, i in (e.get("venue_ids") or {}).items()}
    with psycopg.connect(database_url) as conn:
        events = event_assignments(conn)
        venues = venue_assignments(conn)
    crawled = {m for m, _ in events}
    true_venues = {k: v for k, v in true_venues.items() if k[0] in crawled}
    # a venue id we never resolved is a venue of its own (a miss, not a silent gap)
    venues = {**{k: ("unresolved", *k) for k in true_venues}, **venues}
    return {"events": {**pairwise(events, true_events),
                       "misses": misses(events, true_events)},
            "venues": {**pairwise(venues, true_venues),
                       "misses": misses(venues, true_venues)}}
