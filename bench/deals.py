"""Deal scoring benchmark: quality against the sandbox's truth, and Ray scoring throughput.

    python -m bench.deals --listings 1000000

1. For two seeds, starts a sandbox and reads every event's listings at daily clock points
   (truth JSON, sections and rows normalised as the crawler does). Two fair-price models are
   measured in the same run on the last, held-out point: ``old`` (the terms before row-depth
   slopes, trained on every third point, as before issue 20), ``previous`` (current terms
   with one ridge penalty for every term, as issue 20 first shipped) and ``new`` (current
   terms and per-term penalties, ``engine.deals.model.TERM_PENALTY``), both trained on
   every point but the last two, the new one's per-tier 80 % intervals calibrated on the
   second-to-last point's true values: yesterday's "sale records". Each reports
   ``spearman`` against the true discount, ``precision_at_100``, the median absolute
   percentage error of the fair price (``mdape_pct``) and the interval coverage per section
   tier (``coverage_by_tier``; ``coverage_by_tier_asks_only`` is the interval the scheduled
   retraining has before any sale records: that of similar seats' asking prices).
2. Buy-or-wait: a grouped-by-event backtest on the get-in series per seed: accuracy, Brier
   score and realised saving (% of the price) beside "prices always fall" (always wait)
   and the training base rate (majority answer).
3. Throughput: ``--listings`` rows (the held-out listings tiled) scored by a pool of
   ``DealScorerActor``s, each scored batch returned to the caller (the crawl worker's
   fallback path); ``in_writer_scored_per_s`` is the same actors scoring without sending
   the batch back, as each ingest writer scores its chunk before writing it (the
   production path); ``inprocess_scored_per_s`` is the same work in this process on
   one core, measured in the same run (the baseline of ``ratio``). On a shared machine
   the wall-clock rates follow the load, so ``*_per_cpu_s`` divide by the CPU seconds the
   scoring processes (this one, the actors) actually got.

The top-level quality numbers are the worst of the two seeds (new model).
Prints ONE JSON object.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import pyarrow as pa

from bench.harness import Stopwatch, arguments, emit, process_cpu


def _tier_report(model: object, table: pa.Table, context: object) -> dict[str, object]:
    """Median absolute percentage error of the fair price and interval coverage per tier,
    against the sandbox's true fair value."""
    from engine.deals.features import extract

    feats = extract(table, context)
    fair_est, low, high, _ = model.estimate(feats)  # type: ignore[attr-defined]
    truth = np.log(table["fair_cents"].to_numpy().astype(float))
    inside = (truth >= low) & (truth <= high)
    cov = {label: round(float(inside[feats.tier.codes == i].mean()), 3)
           for i, label in enumerate(feats.tier.labels) if (feats.tier.codes == i).any()}
    return {"mdape_pct": float(np.median(np.abs(np.expm1(fair_est - truth))) * 100),
            "coverage": float(inside.mean()), "coverage_by_tier": cov,
            "coverage_min_tier": min(cov.values()), "coverage_max_tier": max(cov.values())}


def _seed_quality(args: argparse.Namespace, seed: int, events: int) -> tuple[dict, object,
                                                                            pa.Table, object]:
    from bench.grading import collect, grade
    from engine.deals import DealScorer, backtest, fit, get_in_series
    from engine.deals.model import LEGACY_TERMS, TERMS, calibrate_on
    from sandbox.server import start_sandbox

    steps = [0.0] + [86400.0] * args.days
    with Stopwatch() as collecting, start_sandbox(
            seed=seed, events=events, listings_per_event=args.listings_per_event,
            faults="none") as sb:
        hist = collect(sb.base_url, steps)
    ctx = hist.context()
    test = hist.at(hist.clocks[-1])
    calib = hist.at(hist.clocks[-2])  # yesterday's true values: the "sale records"

    def graded(model: object) -> dict[str, object]:
        out = DealScorer(model).score(test.combine_chunks().to_batches()[0], ctx)  # type: ignore[arg-type]
        q = grade(out.column("deal_score").to_numpy(zero_copy_only=False),
                  test["fair_cents"].to_numpy().astype(float),
                  test["total_cents"].to_numpy().astype(float))
        return {**q, **_tier_report(model, test, ctx)}

    old_train = pa.concat_tables([hist.at(c) for c in hist.clocks[:-1:3]])
    with Stopwatch() as fit_old:
        old = fit(old_train, ctx, terms=LEGACY_TERMS, penalties={})
    old.version = "old"
    new_train = pa.concat_tables([hist.at(c) for c in hist.clocks[:-2]])
    with Stopwatch() as fit_prev:
        prev = fit(new_train, ctx, terms=TERMS, penalties={})
    prev.version = "previous"
    with Stopwatch() as fit_new:
        new = fit(new_train, ctx, terms=TERMS)
    new.version = "new"
    asks = _tier_report(new, test, ctx)  # the interval before sale records calibrate it
    calibrate_on(new, calib, calib["fair_cents"].to_numpy(), ctx)
    bt = backtest(get_in_series(hist.listings), ctx, horizon_days=args.horizon_days)
    result = {
        "old": {**graded(old), "train_listings": old_train.num_rows,
                "fit_s": round(fit_old.seconds, 2)},
        "previous": {**graded(prev), "fit_s": round(fit_prev.seconds, 2)},
        "new": {**graded(new), "train_listings": new_train.num_rows,
                "fit_s": round(fit_new.seconds, 2),
                "coverage_by_tier_asks_only": asks["coverage_by_tier"]},
        "buy_or_wait": bt,
        "collect_s": round(collecting.seconds, 2),
        "events": events,
    }
    return result, new, test, ctx


def _quality(args: argparse.Namespace) -> tuple[dict, object, pa.Table, object]:
    per_seed, first = {}, None
    for i, seed in enumerate((args.seed, args.seed + 1)):
        result, model, test, ctx = _seed_quality(
            args, seed, args.events if i == 0 else max(args.events // 2, 10))
        per_seed[str(seed)] = result
        first = first or (model, test, ctx)
    news = [r["new"] for r in per_seed.values()]
    bws = [r["buy_or_wait"] for r in per_seed.values()]
    summary = {
        "spearman": min(n["spearman"] for n in news),
        "precision_at_100": min(n["precision_at_100"] for n in news),
        "mdape_pct": max(n["mdape_pct"] for n in news),
        "coverage_min_tier": min(n["coverage_min_tier"] for n in news),
        "coverage_max_tier": max(n["coverage_max_tier"] for n in news),
        "old_spearman": min(r["old"]["spearman"] for r in per_seed.values()),
        "old_precision_at_100": min(r["old"]["precision_at_100"] for r in per_seed.values()),
        "previous_spearman": min(r["previous"]["spearman"] for r in per_seed.values()),
        "previous_precision_at_100": min(r["previous"]["precision_at_100"]
                                         for r in per_seed.values()),
        "backtest_accuracy": min(b["backtest_accuracy"] for b in bws),
        "naive_accuracy": max(b["naive_accuracy"] for b in bws),
        "majority_accuracy": max(b["majority_accuracy"] for b in bws),
        "brier": max(b["brier"] for b in bws),
        "naive_brier": min(b["naive_brier"] for b in bws),
        "base_rate_brier": min(b["base_rate_brier"] for b in bws),
        "horizon_days": args.horizon_days,
        "seeds": per_seed,
    }
    assert first is not None
    return (summary, *first)


def _throughput(model: object, test: pa.Table, ctx: object, listings: int, actors: int,
                chunk: int) -> dict:
    from engine.deals.scorer import DealScorer

    # ``take`` copies: a sliced batch would drag its parent's buffers through pickling
    batches = [test.take(pa.array(np.arange(i, min(i + chunk, listings)) % test.num_rows))
               .combine_chunks().to_batches()[0] for i in range(0, listings, chunk)]

    # baseline: the same batches in this process, one core
    scorer = DealScorer(model)  # type: ignore[arg-type]
    base_n = min(len(batches), max(1, len(batches) // 4))
    with Stopwatch() as inprocess:
        for b in batches[:base_n]:
            scorer.score(b, ctx)
    inproc = sum(b.num_rows for b in batches[:base_n]) / inprocess.seconds
    inproc_cpu = sum(b.num_rows for b in batches[:base_n]) / inprocess.cpu_seconds

    import ray

    from engine.actors import make_scorer
    from engine.cluster import init_ray

    init_ray(num_cpus=actors)
    try:
        model_ref, ctx_ref = ray.put(model), ray.put(ctx)
        pool = [make_scorer(model=model_ref, cpus=1) for _ in range(actors)]
        refs_in = [ray.put(b) for b in batches]
        ray.get([a.score.remote(refs_in[0], ctx_ref) for a in pool])  # warm up
        pids = ray.get([a.__ray_call__.remote(lambda _self: os.getpid()) for a in pool])
        cpu_before = sum(sum(process_cpu(p)) for p in pids)
        with Stopwatch() as scoring:
            refs = [pool[i % actors].score.remote(r, ctx_ref) for i, r in enumerate(refs_in)]
            scored = sum(b.num_rows for b in ray.get(refs))
        seconds = scoring.seconds
        actor_cpu = sum(sum(process_cpu(p)) for p in pids) - cpu_before
        # the production path since #21: an ingest writer scores its chunk in its own
        # process and writes it; nothing scored travels back through Ray
        with Stopwatch() as in_writer:
            counted = sum(ray.get([pool[i % actors].__ray_call__.remote(
                lambda actor, b, c: actor._scorer.score(b, c).num_rows, r, ctx_ref)
                for i, r in enumerate(refs_in)]))
    finally:
        ray.shutdown()
    return {
        "listings": scored,
        "seconds": round(seconds, 3),
        "scored_per_s": round(scored / seconds),
        "in_writer_scored_per_s": round(counted / in_writer.seconds),
        "inprocess_scored_per_s": round(inproc),
        "ratio": round(scored / seconds / inproc, 2),
        "scored_per_cpu_s": round(scored / actor_cpu),
        "inprocess_scored_per_cpu_s": round(inproc_cpu),
        "actors": actors,
        "batch_rows": chunk,
    }


def main(argv: list[str] | None = None) -> None:
    p = arguments("bench.deals", __doc__)
    p.add_argument("--listings", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=120)
    p.add_argument("--listings-per-event", type=int, default=400)
    p.add_argument("--days", type=int, default=12, help="daily clock points after the first")
    p.add_argument("--horizon-days", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--batch-rows", type=int, default=50_000)
    args = p.parse_args(argv)

    quality, model, test, ctx = _quality(args)
    speed = _throughput(model, test, ctx, args.listings, args.actors, args.batch_rows)
    workload = (f"sandbox seeds {args.seed} ({args.events} events) and {args.seed + 1} "
                f"({max(args.events // 2, 10)} events) x {args.listings_per_event} "
                f"listings/event, {args.days + 1} daily clock points (test the last); "
                f"{speed['listings']} listings scored by {args.actors} Ray actors in batches "
                f"of {args.batch_rows}")
    out = {"listings": speed.pop("listings"), "seconds": speed.pop("seconds"),
           "scored_per_s": speed.pop("scored_per_s"), "workload": workload,
           **quality, **speed}
    emit({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()})


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
