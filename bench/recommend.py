"""Recommendation benchmark: the recommender against the popularity baseline on simulated
fans with hidden tastes, and the CPU time to recommend for every user.

    python -m bench.recommend --seeds 1 2 --users 10000 --events 300

Workload: per seed, a sandbox world of ``--events`` events and ``--users`` simulated fans
(``sandbox.fans``) who open events, follow buy links, watch events and follow performers
over two periods of 14 simulated days. The model (``engine.recommend.Recommender``, what the
maintenance loop runs) is fitted on the first period's actions and recommends 10 events per
fan that the fan did not touch in it; a fan's relevant events are the ones they opened,
followed or watched in the second period and not in the first. ``precision_at_10`` and
``ndcg_at_10`` are averaged over the fans with at least one relevant event, for the model
and for the popularity baseline (the 10 events most people touched in the first period,
minus the fan's own); ``ndcg_ratio`` = model / baseline. ``recommend_cpu_s`` is the process
CPU time of one ``recommend`` call for all ``--users`` fans (reasons included), measured
with ``time.process_time``; ``fit_cpu_s`` the fit's.

Prints ONE JSON object.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np

from bench.harness import arguments, emit

K = 10


def signals_of(actions: Any, event_ids: list[int]) -> list[Any]:
    """Simulated actions as the storage signals the production job reads."""
    from engine.recommend import Signal

    out = []
    for a in actions:
        if a.kind == "follow":
            out.append(Signal(a.fan, "follow", feature=f"performer:{a.performer.lower()}"))
        else:
            out.append(Signal(a.fan, a.kind, event_ids[a.event_index]))
    return out


def catalog_of(world: Any) -> Any:
    from engine.recommend import Catalog

    ev = world.events
    return Catalog(event_ids=[e.index + 1 for e in ev],
                   performers=[list(e.performers) for e in ev],
                   venues=[e.venue.name for e in ev], categories=[e.category for e in ev],
                   cities=[e.venue.city for e in ev], get_in_cents=[e.base_cents for e in ev],
                   popularity=[0.0] * len(ev), best_deal_score=[None] * len(ev))


def _dcg(hits: np.ndarray) -> float:
    return float((hits / np.log2(np.arange(2, hits.size + 2))).sum())


def grade(ranked: dict[int, list[int]], relevant: dict[int, set[int]]) -> dict[str, float]:
    precision, ndcg = [], []
    for fan, rel in relevant.items():
        if not rel:
            continue
        got = ranked.get(fan, [])[:K]
        hits = np.array([1.0 if e in rel else 0.0 for e in got] + [0.0] * (K - len(got)))
        precision.append(hits.sum() / K)
        ideal = _dcg(np.array([1.0] * min(len(rel), K) + [0.0] * (K - min(len(rel), K))))
        ndcg.append(_dcg(hits) / ideal)
    return {"precision_at_10": round(float(np.mean(precision)), 4),
            "ndcg_at_10": round(float(np.mean(ndcg)), 4), "graded_users": len(ndcg)}


def run_seed(seed: int, users: int, events: int) -> dict[str, Any]:
    from engine.recommend import Recommender
    from engine.recommend.model import popularity_ranking
    from sandbox.fans import Fans
    from sandbox.world import World

    world = World(seed, events)
    fans = Fans(world, users, seed)
    catalog = catalog_of(world)
    train = signals_of(fans.actions(0), catalog.event_ids)
    test = signals_of(fans.actions(1), catalog.event_ids)
    touched: dict[int, set[int]] = defaultdict(set)
    for s in train:
        if s.event_id is not None:
            touched[s.user_id].add(s.event_id)
    relevant: dict[int, set[int]] = defaultdict(set)
    for s in test:
        if s.event_id is not None and s.event_id not in touched[s.user_id]:
            relevant[s.user_id].add(s.event_id)

    t0 = time.process_time()
    model = Recommender().fit(catalog, train)
    fit_cpu = time.process_time() - t0
    fan_ids = list(range(users))
    t0 = time.process_time()
    picks = model.recommend(fan_ids, K)
    recommend_cpu = time.process_time() - t0
    ranked = {u: [p.event_id for p in ps] for u, ps in picks.items()}

    order = [catalog.event_ids[i] for i in popularity_ranking(catalog, train)]
    baseline = {u: [e for e in order if e not in touched[u]][:K] for u in fan_ids}
    m, b = grade(ranked, relevant), grade(baseline, relevant)
    reasons: dict[str, int] = defaultdict(int)
    for ps in picks.values():
        for p in ps:
            reasons[p.reason.split(" (")[0].split(" because")[0][:40]] += 1
    return {"seed": seed, "users": users, "events": events,
            "train_signals": len(train), "test_signals": len(test),
            "recommender": m, "popularity": b,
            "ndcg_ratio": round(m["ndcg_at_10"] / max(b["ndcg_at_10"], 1e-9), 3),
            "precision_ratio": round(m["precision_at_10"] / max(b["precision_at_10"], 1e-9),
                                     3),
            "fit_cpu_s": round(fit_cpu, 3), "recommend_cpu_s": round(recommend_cpu, 3),
            "top_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:5])}


def main() -> None:
    p = arguments("bench.recommend", __doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--events", type=int, default=300)
    args = p.parse_args()
    runs = [run_seed(s, args.users, args.events) for s in args.seeds]
    emit({"benchmark": "recommend", "k": K,
          "workload": f"{args.users} simulated fans x {args.events} events, 2 x 14 days, "
                      f"seeds {args.seeds}",
          "min_ndcg_ratio": min(r["ndcg_ratio"] for r in runs),
          "max_recommend_cpu_s": max(r["recommend_cpu_s"] for r in runs),
          "runs": runs})


if __name__ == "__main__":
    main()
