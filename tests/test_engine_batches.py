"""Coalescing pages into COPY-sized chunks, a complete write's gone marking, and the engine's
scorer (cold start, hot reload), without Ray."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from crawler.items import PageRecords
from engine.crawl.coalesce import Coalescer
from storage.records import LISTING_SCHEMA

STAMP = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)


def _page(event: str, ids: list[str], prices: list[int]) -> PageRecords:
    n = len(ids)
    cols = {f.name: [None] * n for f in LISTING_SCHEMA}
    cols.update(observed_at=[datetime.now(UTC)] * n, marketplace=["seatgeek"] * n,
                listing_id=ids, source_event_id=[event] * n, total_cents=prices,
                price_cents=prices, quantity=[2] * n)
    return PageRecords("seatgeek", "test", listings=pa.RecordBatch.from_pydict(
        cols, schema=LISTING_SCHEMA))


def test_pages_gather_into_chunks_stamped_with_the_shard_time() -> None:
    c = Coalescer(5, STAMP, track_ids=True)
    assert c.add(_page("e1", ["a", "b", "c"], [100, 200, 300])) is None
    chunk = c.add(_page("e2", ["d", "e", "f"], [50, 60, 70]))
    assert chunk is not None and chunk.listings.num_rows == 6 and chunk.pages == 2
    assert set(chunk.listings.column("observed_at").to_pylist()) == {STAMP}
    assert c.add(_page("e1", ["g"], [10])) is None
    last = c.flush()
    assert last is not None and last.listings.num_rows == 1
    assert c.flush() is None
    assert sorted(c.seen_ids("e1")) == ["a", "b", "c", "g"]
    assert c.tallies["e1"].lowest_cents == 10 and c.tallies["e2"].count == 3


def test_a_complete_write_marks_gone_only_its_own_source_events_listings(db: Any) -> None:
    """One event can hold two source ids of one marketplace (a marketplace that listed the
    show twice, joined by an operator's merge): a complete crawl of one must not mark the
    other's listings gone (they are crawled by another shard)."""
    from datetime import timedelta

    from storage.events import merge_into, resolve_event_id
    from storage.ingest import mark_gone, upsert_events, write_snapshots
    from storage.records import EventRecord
    from tests.fixtures_db import listing_batch

    t0 = datetime(2026, 11, 24, 20, tzinfo=UTC)
    ids = upsert_events(db, [EventRecord(
        marketplace="seatgeek", source_event_id=sid, name="Trail Blazers vs. Lakers",
        starts_at=t0 + timedelta(days=3), venue_name="Moda Center", venue_city="Portland")
        for sid in ("SG1", "SG2")])
    db.commit()
    if ids[("seatgeek", "SG1")] != ids[("seatgeek", "SG2")]:  # the matcher keeps them apart
        merge_into(db, ids[("seatgeek", "SG1")], ids[("seatgeek", "SG2")], by="operator")
        db.commit()
    assert resolve_event_id(db, ids[("seatgeek", "SG2")]) == ids[("seatgeek", "SG1")]
    write_snapshots(db, listing_batch(
        [{"observed_at": t0, "listing_id": f"a{i}", "source_event_id": "SG1"} for i in range(3)]
        + [{"observed_at": t0, "listing_id": f"b{i}", "source_event_id": "SG2"}
           for i in range(3)]))
    later = t0 + timedelta(hours=1)
    result = write_snapshots(db, listing_batch(  # SG1 again, complete, without a2
        [{"observed_at": later, "listing_id": f"a{i}", "source_event_id": "SG1"}
         for i in range(2)]), complete=True)
    assert result.gone.column("listing_id").to_pylist() == ["a2"]
    gone = mark_gone(db, "seatgeek", "SG1", ["a0", "a1"], later + timedelta(hours=1))
    assert gone.num_rows == 0  # SG2's b* are not SG1's to mark
    db.commit()
    live = {r[0] for r in db.execute(
        "SELECT listing_id FROM listings_current WHERE gone_at IS NULL")}
    assert live == {"a0", "a1", "b0", "b1", "b2"}


def test_without_a_saved_model_the_cold_start_model_is_fitted_once(
        tmp_path: Any, monkeypatch: Any) -> None:
    """Before any model is saved, batches are scored by one cold-start model (fitted on the
    first batch), not a new fit per batch (that fit was the scorer's main cost)."""
    from bench import synthetic
    from engine.deals import service
    from engine.deals.service import ModelScorer

    fits: list[int] = []
    real_fit = service.fit
    monkeypatch.setattr(service, "fit", lambda *a, **k: fits.append(1) or real_fit(*a, **k))

    table, _ = synthetic.world(3, events=6, listings_per_event=120, snapshots=1)
    batches = table.select(LISTING_SCHEMA.names).cast(LISTING_SCHEMA).to_batches(
        max_chunksize=360)
    scorer = ModelScorer(None, directory=tmp_path, reload_every_s=0.0)
    versions = {scorer.score(b).column("model_version")[0].as_py() for b in batches[:3]}
    assert len(fits) == 1 and len(versions) == 1 and next(iter(versions)).startswith("coldstart-")
    assert scorer.score(batches[1]).column("deal_score").null_count < batches[1].num_rows


def test_the_engine_scorer_picks_up_a_newly_saved_model_without_a_restart(
        tmp_path: Any) -> None:
    """Retraining saves a new version; scorers already running score with it from then on."""
    from bench import synthetic
    from engine.deals import ScoringContext, fit
    from engine.deals.registry import save_model
    from engine.deals.service import ModelScorer

    table, events = synthetic.world(5, events=6, listings_per_event=120, snapshots=1)
    ctx = ScoringContext.build(events)
    first = save_model(fit(table, ctx), tmp_path)
    scorer = ModelScorer(None, directory=tmp_path, reload_every_s=0.0)
    assert scorer.model_version == first
    second = save_model(fit(table.slice(0, table.num_rows // 2), ctx), tmp_path)
    assert second != first
    batch = table.select(LISTING_SCHEMA.names).cast(LISTING_SCHEMA).to_batches()[0]
    out = scorer.score(batch, ctx)
    assert scorer.model_version == second
    assert set(out.column("model_version").to_pylist()) == {second}
