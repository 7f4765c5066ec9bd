"""An ingest writer scores a batch before writing it, once a deal model is saved: the
listings are stored scored in the write's own transaction and no scoring is left to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from engine.deals import ScoringContext, fit
from engine.deals.registry import list_versions, save_model
from engine.ingest_writer import IngestWriter
from storage.ingest import upsert_events
from storage.post_commit import work_counts
from storage.records import EventRecord
from tests.fixtures_db import listing_batch

if TYPE_CHECKING:
    from pathlib import Path

    import psycopg
    import pyarrow as pa

T0 = datetime(2026, 11, 24, 20, tzinfo=UTC)


def _batch(prefix: str, at: datetime, n: int = 240) -> pa.RecordBatch:
    return listing_batch([
        {"observed_at": at, "listing_id": f"{prefix}{i}", "section": str(101 + i % 12),
         "row": str(1 + i % 20), "price_cents": 6_000 + 137 * (i % 40) + 900 * (i % 12),
         "fees_cents": 1_500} for i in range(n)])


@pytest.fixture
def writer(db: psycopg.Connection, db_url: str, tmp_path: Path):
    upsert_events(db, [EventRecord(
        marketplace="seatgeek", source_event_id="SG1", name="Trail Blazers vs. Lakers",
        starts_at=T0 + timedelta(days=3), venue_name="Moda Center", venue_city="Portland")])
    db.commit()
    writer = IngestWriter(db_url, models_dir=tmp_path)
    yield writer
    writer.close()


def _stored(db: psycopg.Connection, prefix: str) -> list[tuple[float | None, str | None]]:
    return db.execute("SELECT deal_score, model_version FROM listings_current "
                      "WHERE listing_id LIKE %s", (f"{prefix}%",)).fetchall()


def test_with_too_few_listings_for_a_first_model_the_scoring_is_left_to_the_scorer(
        db: psycopg.Connection, writer: IngestWriter, tmp_path: Path) -> None:
    summary, _ = writer.write(_batch("A", T0))
    assert summary.rows == 240 and summary.scored == 0
    assert all(score is None for score, _ in _stored(db, "A"))
    assert work_counts(db).score_pending == 1  # the deal scorer's, after commit
    assert list_versions(tmp_path) == []  # nothing trained on 240 listings


def test_a_new_installs_first_chunks_train_one_model_and_are_written_scored_with_it(
        db: psycopg.Connection, db_url: str, writer: IngestWriter, tmp_path: Path) -> None:
    """Two writers with no model, each with a first chunk big enough to train on: one
    trains and saves the model, the other waits for it; both chunks are stored scored with
    that one model, and no scoring is left for after commit (nothing is written twice)."""
    from concurrent.futures import ThreadPoolExecutor

    other = IngestWriter(db_url, models_dir=tmp_path)
    try:
        with ThreadPoolExecutor(2) as pool:
            summaries = list(pool.map(lambda w_p: w_p[0].write(_batch(w_p[1], T0, 2_400))[0],
                                      [(writer, "D"), (other, "E")]))
    finally:
        other.close()
    assert [s.scored for s in summaries] == [2_400, 2_400]
    (version,) = list_versions(tmp_path)
    assert (tmp_path / "LATEST").read_text().strip() == version
    stored = _stored(db, "D") + _stored(db, "E")
    assert len(stored) == 4_800
    assert all(score is not None and model == version for score, model in stored)
    assert work_counts(db).score_pending == 0


def test_with_a_saved_model_every_listing_is_written_scored_and_nothing_is_left(
        db: psycopg.Connection, writer: IngestWriter, tmp_path: Path) -> None:
    version = save_model(fit(_batch("H", T0), ScoringContext()), tmp_path)
    summary, result = writer.write(_batch("B", T0 + timedelta(minutes=5)))
    assert summary.scored == 240 and result is not None and result.new_listings.num_rows == 240
    stored = _stored(db, "B")
    assert len(stored) == 240
    assert all(score is not None and model == version for score, model in stored)
    counts = work_counts(db)
    assert (counts.score_pending, counts.match_pending) == (0, 1)  # only alert matching
    # the changes the alert matcher gets carry each listing's score as stored
    carried = dict(zip(result.new_listings["listing_id"].to_pylist(),
                       result.new_listings["deal_score"].to_pylist(), strict=True))
    rows = db.execute("SELECT listing_id, deal_score::float8 FROM listings_current "
                      "WHERE listing_id LIKE 'B%'").fetchall()
    assert carried == {lid: score for lid, score in rows}


def test_a_rescored_listing_is_rewritten_only_when_its_score_visibly_moved(
        db: psycopg.Connection, writer: IngestWriter) -> None:
    import pyarrow as pa

    from storage.scores import write_scores

    writer.write(_batch("C", T0))  # no model yet: stored unscored
    ids = [f"C{i}" for i in range(3)]

    def scores(deal: list[float], fair: list[int], reason: str = "r") -> pa.Table:
        return pa.table({
            "marketplace": ["seatgeek"] * 3, "listing_id": ids, "observed_at": [T0] * 3,
            "fair_value_cents": fair, "deal_score": deal, "deal_reason": [reason] * 3,
            "model_version": ["m1"] * 3})

    with db.transaction():
        assert write_scores(db, scores([50.0, 60.0, 70.0], [9_000, 9_000, 9_000])) == 3
    # a hundredth of a point, a few cents: not rewritten; 0.5 points, $2, a new reason: are
    with db.transaction():
        assert write_scores(db, scores([50.01, 60.5, 70.0], [9_004, 9_000, 9_200])) == 2
    with db.transaction():
        assert write_scores(db, scores([50.01, 60.5, 70.0], [9_004, 9_000, 9_200],
                                       reason="new reason")) == 3
    stored = dict(db.execute("SELECT listing_id, deal_score FROM listings_current "
                             "WHERE listing_id = ANY(%s)", (ids,)).fetchall())
    assert stored == pytest.approx({"C0": 50.01, "C1": 60.5, "C2": 70.0}, abs=1e-4)
    # the reason's amounts follow the fair value (a few cents here): a dollar that rounds
    # the other way is not rewritten; what the reason says beyond them is
    said = "$20 (18 %) below similar seats in Section 112"
    with db.transaction():
        assert write_scores(db, scores([50.01, 60.5, 70.0], [9_004, 9_000, 9_200],
                                       reason=said)) == 3
    with db.transaction():
        assert write_scores(db, scores([50.01, 60.5, 70.0], [9_010, 9_000, 9_200],
                                       reason=said.replace("$20 (18", "$21 (19"))) == 0
    for other in (said.replace("below", "above"), said.replace("112", "113"),
                  said + " · lowest all-in price in this section for 3 days",
                  "priced like similar seats in Section 112"):
        with db.transaction():
            assert write_scores(db, scores([50.01, 60.5, 70.0], [9_010, 9_000, 9_200],
                                           reason=other)) == 3, other
    assert db.execute("SELECT DISTINCT deal_reason FROM listings_current "
                      "WHERE listing_id = ANY(%s)", (ids,)).fetchall() == \
        [("priced like similar seats in Section 112",)]


def test_the_writers_filter_sends_exactly_the_scores_the_update_would_rewrite(
        db: psycopg.Connection, writer: IngestWriter) -> None:
    """A re-crawl sends only visibly moved scores of unchanged listings to the database
    (``storage.scores.moved`` over the state it read); the UPDATE applies the same rule in
    SQL. Both must pick the same listings, or a moved score would never be stored."""
    import pyarrow as pa

    from storage.ingest.state import STORED_SCORES, read_event_state
    from storage.scores import moved, write_scores

    writer.write(_batch("D", T0))
    said = "$20 (18 %) below similar seats in Section 112"
    before = [  # (deal score, fair value, reason, model) stored, then offered
        ((50.0, 9_000, said, "m1"), (50.2, 9_040, said, "m1")),  # nudged: kept
        ((50.0, 9_000, said, "m1"), (50.5, 9_000, said, "m1")),  # half a point
        ((50.0, 9_000, said, "m1"), (50.0, 9_100, said, "m1")),  # a dollar
        ((50.0, 9_000, said, "m1"), (50.0, 9_010, said.replace("$20 (18", "$21 (19"),
                                     "m1")),  # amounts only: kept
        ((50.0, 9_000, said, "m1"), (50.0, 9_000, said.replace("112", "113"), "m1")),
        ((50.0, 9_000, said, "m1"), (50.0, 9_000, said, "m2")),  # another model
        ((50.0, 9_000, said, "m1"), (None, None, None, "m1")),  # score vanished
        ((50.0, 9_000, None, "m1"), (50.0, 9_000, None, "m1")),  # no reason: kept
        ((50.0, 9_000, "no amounts", "m1"), (50.0, 9_000, "no amounts either", "m1")),  # whole
        ((49.75, 9_000, said, "m1"), (49.25, 9_099, said, "m1")),  # exactly half: moved
    ]
    ids = [f"D{i}" for i in range(len(before))]

    def scores(which: int) -> pa.Table:
        deal, fair, reason, model = zip(*(case[which] for case in before), strict=True)
        return pa.table({
            "marketplace": ["seatgeek"] * len(ids), "listing_id": ids,
            "observed_at": [T0] * len(ids), "fair_value_cents": pa.array(fair, pa.int64()),
            "deal_score": pa.array(deal, pa.float64()), "deal_reason": pa.array(reason),
            "model_version": pa.array(model)})

    with db.transaction():
        write_scores(db, scores(0))
    event_id = db.execute("SELECT event_id FROM event_sources").fetchone()[0]
    with db.cursor() as cur:
        state = read_event_state(cur, [event_id], ["seatgeek"])
    at = {lid: i for i, lid in enumerate(state["listing_id"].to_pylist())}
    stored = state.select(STORED_SCORES.names).take(pa.array([at[i] for i in ids]))
    assert all(stored["scores_read"].to_pylist())
    picked = {lid for lid, m in zip(ids, moved(stored, scores(1)), strict=True) if m}
    assert picked == {"D1", "D2", "D4", "D5", "D6", "D8", "D9"}

    stamp = "SELECT listing_id, scored_at FROM listings_current WHERE listing_id = ANY(%s)"
    was = dict(db.execute(stamp, (ids,)).fetchall())
    with db.transaction():
        write_scores(db, scores(1))
    now = dict(db.execute(stamp, (ids,)).fetchall())
    assert {lid for lid in ids if now[lid] != was[lid]} == picked
