"""What survives a crash after commit: post-commit work recorded with its batch, the crawl
frontier's journal, and quarantine that a re-run shard does not fill twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pyarrow as pa
import pytest

from storage.frontier import (
    FrontierEvent,
    FrontierShard,
    drop_frontier,
    load_frontier,
    save_frontier,
)
from storage.ingest import mark_gone_recorded, upsert_events, write_rejects, write_snapshots
from storage.post_commit import (
    changes_of,
    claim_due,
    fail_work,
    finish_work,
    listings_of,
    work_counts,
)
from storage.records import EventRecord, Reject
from tests.fixtures_db import listing_batch

T0 = datetime(2026, 11, 24, 20, tzinfo=UTC)


@pytest.fixture
def event(db: psycopg.Connection) -> None:
    upsert_events(db, [EventRecord(
        marketplace="seatgeek", source_event_id="SG1", name="Trail Blazers vs. Lakers",
        starts_at=T0 + timedelta(days=3), venue_name="Moda Center", venue_city="Portland")])
    db.commit()


def test_a_committed_batch_carries_its_scoring_and_matching_until_both_are_done(
        db: psycopg.Connection, event: None) -> None:
    batch = listing_batch([{"observed_at": T0, "listing_id": f"L{i}"} for i in range(30)])
    result = write_snapshots(db, batch, post_commit=True)
    db.commit()
    assert result.work_id is not None
    counts = work_counts(db)
    assert (counts.score_pending, counts.match_pending, counts.failed) == (1, 1, 0)
    # nothing is due during the grace period the engine's own calls get ...
    with db.transaction():
        assert claim_due(db, "score") is None
    # ... but a reaper draining everything gets the very batch and the very changes back
    with db.transaction():
        work = claim_due(db, "score", everything=True)
        assert work is not None and work.id == result.work_id
        assert sorted(listings_of(work).column("listing_id").to_pylist()) == sorted(
            f"L{i}" for i in range(30))
        finish_work(db, work.id, "score")
    with db.transaction():
        work = claim_due(db, "match", everything=True)
        assert work is not None
        assert changes_of(work).new_listings.num_rows == 30
        finish_work(db, work.id, "match")
    assert work_counts(db).pending == 0
    assert db.execute("SELECT count(*) FROM post_commit_work").fetchone()[0] == 0


def test_a_rolled_back_batch_leaves_no_work_and_failed_work_backs_off(
        db: psycopg.Connection, event: None) -> None:
    batch = listing_batch([{"observed_at": T0, "listing_id": "A"}])
    with pytest.raises(RuntimeError), db.transaction():
        write_snapshots(db, batch, post_commit=True)
        raise RuntimeError("the writer died before commit")
    assert work_counts(db).pending == 0
    result = write_snapshots(db, batch, post_commit=True)
    db.commit()
    assert result.work_id is not None
    for _ in range(5):
        fail_work(db, result.work_id, "database away")
    db.commit()
    counts = work_counts(db)
    assert counts.failed == 1 and counts.max_attempts == 5
    with db.transaction():
        assert claim_due(db, "score") is None  # backing off
        assert claim_due(db, "score", everything=True) is not None


def _scored(batch: pa.RecordBatch, score: float, version: str = "m1") -> pa.RecordBatch:
    n = batch.num_rows
    return (batch.append_column("fair_value_cents", pa.array([9000] * n, pa.int64()))
            .append_column("deal_score", pa.array([score] * n, pa.float64()))
            .append_column("deal_reason", pa.array(["below fair value"] * n))
            .append_column("model_version", pa.array([version] * n)))


def _scores(db: psycopg.Connection) -> dict[str, tuple[float | None, str | None]]:
    return {lid: (score, version) for lid, score, version in db.execute(
        "SELECT listing_id, deal_score, model_version FROM listings_current")}


def test_a_batch_scored_before_its_write_is_stored_scored_and_leaves_only_matching(
        db: psycopg.Connection, event: None) -> None:
    batch = listing_batch([{"observed_at": T0, "listing_id": f"L{i}"} for i in range(5)])
    result = write_snapshots(db, batch, post_commit=True, scores=_scored(batch, 80.0))
    db.commit()
    assert _scores(db) == {f"L{i}": (80.0, "m1") for i in range(5)}
    counts = work_counts(db)
    assert (counts.score_pending, counts.match_pending) == (0, 1)
    assert result.new_listings.num_rows == 5
    # a re-crawl: one repriced, the rest unchanged but scored anew (a newer model)
    later = listing_batch([{"observed_at": T0 + timedelta(hours=1), "listing_id": f"L{i}",
                            "price_cents": 7000 if i == 0 else 10_000} for i in range(5)])
    write_snapshots(db, later, complete=True, post_commit=True,
                    scores=_scored(later, 60.0, "m2"))
    db.commit()
    assert _scores(db) == {f"L{i}": (60.0, "m2") for i in range(5)}
    assert work_counts(db).score_pending == 0


def test_a_batch_whose_scores_miss_a_row_is_scored_after_commit(
        db: psycopg.Connection, event: None) -> None:
    batch = listing_batch([{"observed_at": T0, "listing_id": f"L{i}"} for i in range(3)])
    write_snapshots(db, batch, post_commit=True, scores=_scored(batch.slice(0, 2), 80.0))
    db.commit()
    assert _scores(db) == {f"L{i}": (None, None) for i in range(3)}
    assert work_counts(db).score_pending == 1


def test_gone_listings_record_their_matching(db: psycopg.Connection, event: None) -> None:
    write_snapshots(db, listing_batch([{"observed_at": T0, "listing_id": "A"},
                                       {"observed_at": T0, "listing_id": "B"}]))
    db.commit()
    result = mark_gone_recorded(db, "seatgeek", "SG1", ["A"], T0 + timedelta(minutes=5))
    db.commit()
    assert result.gone.column("listing_id").to_pylist() == ["B"]
    counts = work_counts(db)
    assert (counts.score_pending, counts.match_pending) == (0, 1)


def test_a_rerun_shards_rejects_are_quarantined_once(db: psycopg.Connection) -> None:
    rejects = [Reject(observed_at=T0, marketplace="seatgeek", source="https://x/1",
                      reason="bad price", raw='{"p": "x"}'),
               Reject(observed_at=T0, marketplace="seatgeek", source="https://x/1",
                      reason="bad price", raw='{"p": "y"}')]
    assert write_rejects(db, rejects) == 2
    assert write_rejects(db, rejects) == 0  # the same shard again: same observation time
    db.commit()
    assert db.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 2


def test_the_frontier_journal_round_trips_and_forgets_a_finished_run(
        db: psycopg.Connection) -> None:
    shard = {"shard_id": "s1", "spider": "seatgeek", "marketplace": "seatgeek",
             "observed_at": T0.isoformat(), "event_ids": ["e1"], "attempt": 2}
    save_frontier(db, "run1", continuous=True, counts={"acked": 3},
                  events=[FrontierEvent("seatgeek", "e1", None, T0, 5000, 2, 740),
                          FrontierEvent("seatgeek", "e2", None, T0)],
                  shards=[FrontierShard("s1", shard, 2, T0, None),
                          FrontierShard("s2", {**shard, "shard_id": "s2"}, 0, None, "w0")],
                  done=[])
    save_frontier(db, "run1", continuous=False, counts={"acked": 4}, events=[], shards=[],
                  done=["s2"])
    saved = load_frontier(db, "run1")
    assert saved is not None
    assert saved.run.continuous and saved.run.counts == {"acked": 4}
    assert sorted((e.source_event_id, e.last_low, e.crawls, e.listings)
                  for e in saved.events) == [("e1", 5000, 2, 740), ("e2", None, 0, None)]
    assert [(s.shard_id, s.attempt, s.not_before) for s in saved.shards] == [("s1", 2, T0)]
    drop_frontier(db, "run1")
    assert load_frontier(db, "run1") is None
