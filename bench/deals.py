"""Deal scoring benchmark: quality against the sandbox's truth, and Ray scoring throughput.

    python -m bench.deals --listings 1000000

1. Starts a sandbox, reads every event's listings at daily clock points (truth JSON,
   sections and rows normalised as the crawler does), trains the fair-price model on
   earlier points and scores the last, held-out point: ``spearman`` against the true
   discount, ``precision_at_100``. A second seed's world is scored with the same model
   (``spearman_other_seed``): the model must generalise to unseen events.
2. Buy-or-wait: a grouped-by-event backtest on the get-in series (``backtest_accuracy``
   beside ``naive_accuracy``, "prices always fall").
3. Throughput: ``--listings`` rows (the held-out listings tiled) scored by a pool of
   ``DealScorerActor``s; ``inprocess_scored_per_s`` is the same work in this process on
   one core, measured in the same run (the baseline of ``ratio``).

Prints ONE JSON object.
"""

from __future__ import annotations

import argparse

import numpy as np
import pyarrow as pa

from bench.harness import Stopwatch, arguments, emit


def _quality(args: argparse.Namespace) -> tuple[dict, object, pa.Table, object]:
    from bench.grading import collect, grade
    from engine.deals import DealScorer, backtest, fit, get_in_series
    from sandbox.server import start_sandbox

    steps = [0.0] + [86400.0] * args.days
    with Stopwatch() as collecting:
        with start_sandbox(seed=args.seed, events=args.events,
                           listings_per_event=args.listings_per_event, faults="none") as sb:
            hist = collect(sb.base_url, steps)
        with start_sandbox(seed=args.seed + 1, events=max(args.events // 3, 10),
                           listings_per_event=args.listings_per_event, faults="none") as sb:
            other = collect(sb.base_url, [0.0])
    ctx = hist.context()
    train = pa.concat_tables([hist.at(c) for c in hist.clocks[:-1:args.train_every]])
    test = hist.at(hist.clocks[-1])
    with Stopwatch() as fitting:
        model = fit(train, ctx)
    model.version = "bench"
    scorer = DealScorer(model)

    def graded(table: pa.Table, context: object) -> dict[str, float]:
        out = scorer.score(table.combine_chunks().to_batches()[0], context)
        return grade(out.column("deal_score").to_numpy(zero_copy_only=False),
                     table["fair_cents"].to_numpy().astype(float),
                     table["total_cents"].to_numpy().astype(float))

    q = graded(test, ctx)
    q2 = graded(other.listings, other.context())
    bt = backtest(get_in_series(hist.listings), ctx, horizon_days=args.horizon_days)
    result = {
        **q,
        "spearman_other_seed": q2["spearman"],
        "precision_at_100_other_seed": q2["precision_at_100"],
        **{k: bt[k] for k in ("backtest_accuracy", "naive_accuracy", "majority_accuracy")},
        "backtest_samples": bt["samples"],
        "horizon_days": args.horizon_days,
        "train_listings": train.num_rows,
        "fit_s": round(fitting.seconds, 2),
        "collect_s": round(collecting.seconds, 2),
    }
    return result, model, test, ctx


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

    import ray

    from engine.actors import make_scorer
    from engine.cluster import init_ray

    init_ray(num_cpus=actors)
    try:
        model_ref, ctx_ref = ray.put(model), ray.put(ctx)
        pool = [make_scorer(model=model_ref, cpus=1) for _ in range(actors)]
        refs_in = [ray.put(b) for b in batches]
        ray.get([a.score.remote(refs_in[0], ctx_ref) for a in pool])  # warm up
        with Stopwatch() as scoring:
            refs = [pool[i % actors].score.remote(r, ctx_ref) for i, r in enumerate(refs_in)]
            scored = sum(b.num_rows for b in ray.get(refs))
        seconds = scoring.seconds
    finally:
        ray.shutdown()
    return {
        "listings": scored,
        "seconds": round(seconds, 3),
        "scored_per_s": round(scored / seconds),
        "inprocess_scored_per_s": round(inproc),
        "ratio": round(scored / seconds / inproc, 2),
        "actors": actors,
        "batch_rows": chunk,
    }


def main(argv: list[str] | None = None) -> None:
    p = arguments("bench.deals", __doc__)
    p.add_argument("--listings", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=120)
    p.add_argument("--listings-per-event", type=int, default=400)
    p.add_argument("--days", type=int, default=12, help="daily clock points after the first")
    p.add_argument("--train-every", type=int, default=3,
                   help="train on every n-th clock point before the held-out last one")
    p.add_argument("--horizon-days", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--batch-rows", type=int, default=50_000)
    args = p.parse_args(argv)

    quality, model, test, ctx = _quality(args)
    speed = _throughput(model, test, ctx, args.listings, args.actors, args.batch_rows)
    workload = (f"sandbox seed {args.seed}: {args.events} events x {args.listings_per_event} "
                f"listings/event, {args.days + 1} daily clock points (train every "
                f"{args.train_every}th, test the last); {speed['listings']} listings scored by "
                f"{args.actors} Ray actors in batches of {args.batch_rows}")
    out = {"listings": speed.pop("listings"), "seconds": speed.pop("seconds"),
           "scored_per_s": speed.pop("scored_per_s"), "workload": workload,
           **quality, **speed}
    emit({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()})


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
