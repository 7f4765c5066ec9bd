"""The engine's Ray scorer actor and the sandbox-graded model (slow: Ray start, sandbox crawl)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from bench.synthetic import world
from engine.deals import DealScorer, ScoringContext, fit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    import ray

    from engine.cluster import init_ray

    init_ray(num_cpus=2)  # a Ray of our own on loopback, whatever else runs on this machine
    yield ray
    ray.shutdown()


def test_actor_scores_equal_in_process_scores(ray_local, tmp_path):
    from engine.actors import make_scorer
    from engine.deals.registry import save_model

    hist, events = world(11, events=8, listings_per_event=80, snapshots=2)
    ctx = ScoringContext.build(events)
    model = fit(hist, ctx)
    version = save_model(model, tmp_path)
    batch = hist.combine_chunks().to_batches()[0]
    local = DealScorer(model).score(batch, ctx)
    by_ref = make_scorer(model=ray_local.put(model))
    from_disk = make_scorer(models_dir=str(tmp_path))  # the engine's: the latest saved model
    for actor in (by_ref, from_disk):
        remote = ray_local.get(actor.score.remote(batch, ctx))
        assert remote.equals(local)
        assert ray_local.get(actor.model_version.remote()) == version


def test_model_trained_on_one_seed_scores_another_seeds_sandbox_events():
    from bench.grading import collect, grade
    from sandbox.server import start_sandbox

    with start_sandbox(seed=3, events=60, listings_per_event=200, faults="none") as sb:
        train = collect(sb.base_url, [0.0, 2 * 86400.0, 2 * 86400.0])
    with start_sandbox(seed=4, events=20, listings_per_event=200, faults="none") as sb:
        test = collect(sb.base_url, [0.0])
    model = fit(train.listings, train.context())
    out = DealScorer(model).score(test.listings.combine_chunks().to_batches()[0],
                                  test.context())
    g = grade(out.column("deal_score").to_numpy(zero_copy_only=False),
              test.listings["fair_cents"].to_numpy().astype(float),
              test.listings["total_cents"].to_numpy().astype(float), top=50)
    assert g["spearman"] >= 0.85, g
    assert g["precision_at_100"] >= 0.8, g
    assert isinstance(out, pa.RecordBatch) and np.isfinite(g["graded_listings"])
