"""Fair price and deal score: the properties a person relies on, on a synthetic world."""

from __future__ import annotations

import re
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy.stats import spearmanr

from bench.synthetic import world
from engine.deals import DealScorer, ScoringContext, fit, section_daily_lows
from engine.deals.groups import loo_median


@pytest.fixture(scope="module")
def trained():
    hist, events = world(1, events=30, listings_per_event=150, snapshots=4)
    ctx = ScoringContext.build(events)
    model = fit(hist, ctx)
    model.version = "test-1"
    return model, hist, ctx


def _latest(hist: pa.Table) -> pa.Table:
    return hist.filter(pc.equal(hist["observed_at"], pc.max(hist["observed_at"])))


def _score(model, table: pa.Table, ctx) -> pa.RecordBatch:
    return DealScorer(model).score(table.combine_chunks().to_batches()[0], ctx)


def _with_probe(table: pa.Table, **changes) -> pa.Table:
    """``table`` plus one copy of its first row with some columns changed."""
    row = table.slice(0, 1).to_pylist()[0]
    row.update(changes, listing_id="probe")
    return pa.concat_tables([table, pa.Table.from_pylist([row], schema=table.schema)])


def _probe(out: pa.RecordBatch) -> dict:
    i = out.column("listing_id").to_pylist().index("probe")
    return out.slice(i, 1).to_pylist()[0]


def test_cheaper_seat_of_equal_quality_scores_higher(trained):
    model, hist, ctx = trained
    batch = _latest(hist)
    price = batch["total_cents"][0].as_py()
    low = _probe(_score(model, _with_probe(batch, total_cents=int(price * 0.8)), ctx))
    high = _probe(_score(model, _with_probe(batch, total_cents=int(price * 1.2)), ctx))
    assert low["deal_score"] > high["deal_score"]
    assert low["fair_value_cents"] == high["fair_value_cents"]  # own price is left out


def test_better_seat_at_equal_price_scores_higher(trained):
    model, hist, ctx = trained
    batch = _latest(hist)
    ev = batch["event_id"][0].as_py()
    batch = batch.filter(pc.equal(batch["event_id"], ev))
    lower = _probe(_score(model, _with_probe(batch, section="109", row="5", total_cents=9000),
                          ctx))
    upper = _probe(_score(model, _with_probe(batch, section="309", row="5", total_cents=9000),
                          ctx))
    front = _probe(_score(model, _with_probe(batch, section="109", row="1", total_cents=9000),
                          ctx))
    assert lower["fair_value_cents"] > upper["fair_value_cents"]
    assert lower["deal_score"] > upper["deal_score"]
    assert front["deal_score"] > lower["deal_score"]


def test_score_is_monotone_in_price(trained):
    model, hist, ctx = trained
    batch = _latest(hist)
    base = batch.slice(0, 1).to_pylist()[0]
    rows = [dict(base, listing_id=f"p{k}", total_cents=2000 + 500 * k) for k in range(40)]
    probes = pa.Table.from_pylist(rows, schema=batch.schema)
    # probes are scored one at a time beside the real listings so none moves the others
    scores = [_probe(_score(model, _with_probe(batch, total_cents=r["total_cents"]), ctx))
              ["deal_score"] for r in probes.to_pylist()]
    assert all(a > b for a, b in pairwise(scores))
    assert min(scores) > 0 and max(scores) < 100


def test_scores_do_not_depend_on_batch_order(trained):
    model, hist, ctx = trained
    batch = _latest(hist)
    perm = np.random.default_rng(3).permutation(batch.num_rows)
    a = _score(model, batch, ctx).to_pydict()
    b = _score(model, batch.take(pa.array(perm)), ctx).to_pydict()
    by_id = {lid: i for i, lid in enumerate(b["listing_id"])}
    j = [by_id[lid] for lid in a["listing_id"]]
    for col in ("deal_score", "deal_rank", "fair_value_cents", "deal_reason"):
        assert [b[col][k] for k in j] == a[col], col


def test_reason_text_matches_the_numbers(trained):
    model, hist, ctx = trained
    last_t = pc.max(hist["observed_at"])
    ctx = ScoringContext(events=ctx.events,
                         section_lows=section_daily_lows(
                             hist.filter(pc.less(hist["observed_at"], last_t))))
    out = _score(model, _latest(hist), ctx).to_pydict()
    pattern = re.compile(
        r"^\$(\d+) \((\d+) %\) (below|above) similar seats in Section (.+?)(?: · |$)")
    checked = lows = 0
    for fair, total, reason, section in zip(out["fair_value_cents"], out["total_cents"],
                                            out["deal_reason"], out["section"], strict=True):
        m = pattern.match(reason)
        if not m:
            assert reason.startswith("priced like similar seats"), reason
            continue
        dollars, pct, side, sec = m.groups()
        assert int(dollars) == round(abs(fair - total) / 100)
        assert int(pct) == round(abs(fair - total) / fair * 100)
        assert side == ("below" if fair >= total else "above")
        assert sec == section
        checked += 1
        lows += "lowest all-in price in this section for" in reason
    assert checked > 0.9 * len(out["deal_reason"])
    assert lows > 0


def test_rank_within_event_follows_the_score(trained):
    model, hist, ctx = trained
    out = _score(model, _latest(hist), ctx).to_pydict()
    ev0 = out["event_id"][0]
    rows = sorted((r, s) for r, s, e in zip(out["deal_rank"], out["deal_score"],
                                            out["event_id"], strict=True) if e == ev0)
    assert [r for r, _ in rows] == list(range(1, len(rows) + 1))
    assert all(a >= b for (_, a), (_, b) in pairwise(rows))


def test_model_generalises_to_another_seeds_events(trained):
    model, _, _ = trained
    hist2, events2 = world(2, events=20, listings_per_event=150, snapshots=2)
    batch = _latest(hist2)
    out = _score(model, batch, ScoringContext.build(events2)).to_pydict()
    fair = np.array(out["fair_cents"], dtype=float)
    true_discount = (fair - np.array(out["total_cents"])) / fair
    score = np.array(out["deal_score"])
    assert spearmanr(score, true_discount).statistic >= 0.85
    top = np.argsort(-score)[:50]
    assert np.mean(true_discount[top] >= np.quantile(true_discount, 0.9)) >= 0.8


def test_leave_one_out_median_excludes_own_value():
    groups = np.array([0, 0, 0, 0, 1, 1, 2])
    values = np.array([1.0, 2.0, 3.0, 100.0, 5.0, np.nan, 7.0])
    med, count = loo_median(groups, values)
    assert med[:4].tolist() == [3.0, 3.0, 2.0, 2.0]
    assert count.tolist() == [3, 3, 3, 3, 0, 1, 0]
    assert np.isnan(med[4]) and med[5] == 5.0 and np.isnan(med[6])


def test_unknown_events_and_missing_prices_do_not_break_scoring(trained):
    model, hist, _ = trained
    batch = _latest(hist).drop_columns(["event_id"]).slice(0, 50)
    total = batch["total_cents"].to_pylist()
    total[0] = None
    batch = batch.set_column(batch.schema.get_field_index("total_cents"), "total_cents",
                             pa.array(total, pa.int64()))
    out = DealScorer(model).score(batch.to_batches()[0], None)
    assert out.column("deal_score")[0].as_py() is None
    assert out.column("deal_reason")[0].as_py() == "no all-in price to compare"
    assert all(s is not None for s in out.column("deal_score").to_pylist()[1:])
