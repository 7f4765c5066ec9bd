"""``write_snapshots``: one Arrow listing batch, one transaction, as a sequence of steps.

Resolve each row's event; quarantine the refused rows; bump (and so lock) the batch's event
versions; take the events' current state (cached or read); classify every row against it;
on a complete crawl find the listings it lacks; stage and apply only what changes something
(retrying by key when another writer got there first); record the complete crawl; cache
the state it leaves; report the changes from the Arrow side, with no round trip.

A batch scored before it is written (``scores``) is written with its scores: a new listing
is inserted once, already scored, instead of inserted and then rewritten by the scorer (a
non-HOT update through every index), and no scoring is left as post-commit work.
"""

from __future__ import annotations

import dataclasses
import logging

import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from storage.ingest import _sql
from storage.ingest.classify import (
    KEEP,
    NOTHING_MISSING,
    OLDER,
    TOUCH,
    Classified,
    changes,
    classify,
    conform,
    dedupe,
    key,
    missing,
    reasons,
)
from storage.ingest.gone import record_crawl
from storage.ingest.result import IngestResult
from storage.ingest.stage import SCORE_STAGE, apply_changes, prepare_stage, quarantine
from storage.ingest.state import (
    STORED_SCORES,
    cache_for,
    current_state,
    next_state,
    read_key_state,
)
from storage.partitions import ensure_partitions
from storage.post_commit import record_work
from storage.scores import moved, write_scores
from storage.settings import get_storage_settings

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class _Screened:
    """A batch's rows split by validation: the accepted ones with their events and keys."""

    rows: pa.Table
    event_id: pa.ChunkedArray
    keys: pa.Array
    refused: pa.Table


def write_snapshots(
    conn: psycopg.Connection,
    batch: pa.RecordBatch | pa.Table,
    *,
    complete: bool = False,
    touch_interval_s: float | None = None,
    post_commit: bool = False,
    scores: pa.RecordBatch | pa.Table | None = None,
) -> IngestResult:
    """Write one ``LISTING_SCHEMA`` batch; returns what changed.

    Args:
        conn: a connection; the work runs in one transaction (a savepoint if the caller
            already has one open), so a killed writer leaves nothing half-done.
        batch: listings as observed; bad rows go to ``quarantine`` with a reason.
        complete: the batch holds *every* listing of its (marketplace, event) pairs, so
            listings of those events missing from it are marked gone.
        touch_interval_s: an unchanged listing's ``last_seen`` moves only when it is at least
            this old (default ``RIPCITY_LAST_SEEN_RESOLUTION_S``): re-crawls minutes apart
            then write nothing at all for unchanged listings. 0 = move it every time.
        post_commit: record the batch's scoring and its changes' alert matching as
            post-commit work (``storage.post_commit``) in the same transaction; the
            result's ``work_id`` names it.
        scores: the batch's deal scores, computed by the caller from this batch:
            ``marketplace``, ``listing_id`` and ``stage.SCORE_STAGE``'s columns (e.g. the
            batch with ``engine.deals.SCORE_FIELDS`` appended). They are written in this
            transaction (new and changed listings with their rows; unchanged ones where the
            score moved), so the post-commit work records no scoring. A listing given twice
            takes the score of its first row. In a caller's open transaction, the pinned
            join plans of ``storage.scores`` last until it ends.
    """
    if touch_interval_s is None:
        touch_interval_s = get_storage_settings().last_seen_resolution_s
    touch_us = None if complete else round(touch_interval_s * 1_000_000)
    batch = conform(batch)
    if batch.num_rows == 0:
        return IngestResult()
    table, keys = dedupe(batch)
    lo, hi = pc.min_max(table.column("observed_at")).values()
    cache = cache_for(conn)
    marketplaces = pc.unique(table["marketplace"])
    # only our own transaction's commit makes what we wrote the committed state
    cacheable = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction(), conn.cursor() as cur:
        ensure_partitions(conn, lo.as_py(), hi.as_py())
        prepare_stage(conn)
        event_id, sources = _resolve_events(cur, table)
        ok = _screen(cur, table, event_id, keys)
        scored = _aligned(scores, ok) if scores is not None else None
        versions = _bump_versions(cur, event_id)
        state = current_state(cur, cache, versions, marketplaces)
        state_keys = key(state)
        c = classify(ok.rows, state, touch_us, keys=ok.keys, state_keys=state_keys)
        lacking = missing(sources, state, state_keys, c, ok.refused) if complete \
            else NOTHING_MISSING
        c, written, gone, retried = _apply(conn, cur, ok, c, lacking, sources, touch_us,
                                           versions, scored)
        stored = None if retried else state  # what ``c.pos`` points into
        cacheable = cacheable and not retried
        seen_at = record_crawl(cur, sources, ok.rows, lo if lo == hi else None) \
            if complete else None
        if cacheable:
            after = next_state(ok.rows, ok.event_id, c, state, state_keys, gone, seen_at)
        result = _report(ok, c, written, gone, scored)
        if post_commit:
            result.work_id = record_work(cur, ok.rows if scored is None else None, result)
        if scored is not None:  # last: it pins join plans for the rest of the transaction
            _score_unchanged(conn, ok, c, scored, stored)
    if cacheable:  # committed: the state we wrote is the events' state at these versions
        cache.put(versions, frozenset(marketplaces.to_pylist()), after)
    return result


def _resolve_events(cur: psycopg.Cursor, table: pa.Table) -> tuple[pa.ChunkedArray, pa.Table]:
    """Our event id for each row (null when its marketplace event is unknown), and the known
    source events of the batch: ``marketplace``, ``source_event_id``, ``event_id`` and the
    first and last time the batch observed them (``first_at``, ``last_at``).
    """
    pairs = table.select(["marketplace", "source_event_id", "observed_at"]).group_by(
        ["marketplace", "source_event_id"], use_threads=False).aggregate(
        [("observed_at", "min"), ("observed_at", "max")])
    found = cur.execute(_sql.EVENTS, (pairs["marketplace"].to_pylist(),
                                      pairs["source_event_id"].to_pylist())).fetchall()
    known = pa.table({"marketplace": pa.array([r[0] for r in found], pa.string()),
                      "source_event_id": pa.array([r[1] for r in found], pa.string()),
                      "event_id": pa.array([r[2] for r in found], pa.int64())})
    known_key = key(known, right="source_event_id")
    where = pc.index_in(key(table, right="source_event_id"), value_set=known_key)
    pair_event = pc.take(known["event_id"], pc.index_in(
        key(pairs, right="source_event_id"), value_set=known_key))
    sources = pa.table({
        "marketplace": pairs["marketplace"], "source_event_id": pairs["source_event_id"],
        "event_id": pair_event, "first_at": pairs["observed_at_min"],
        "last_at": pairs["observed_at_max"]}).filter(pc.is_valid(pair_event))
    return pc.take(known["event_id"], where), sources


def _screen(cur: psycopg.Cursor, table: pa.Table, event_id: pa.ChunkedArray,
            keys: pa.Array) -> _Screened:
    """Quarantine the rows refused by validation (with their reason); the accepted rest."""
    reason = reasons(table, event_id)
    bad = pc.is_valid(reason)
    if not pc.any(bad).as_py():
        return _Screened(table, event_id, keys, table.slice(0, 0))
    quarantine(cur, table.filter(bad), event_id.filter(bad), reason.filter(bad))
    good = pc.invert(bad)
    return _Screened(table.filter(good), event_id.filter(good), keys.filter(good),
                     table.filter(bad))


def _aligned(scores: pa.RecordBatch | pa.Table, ok: _Screened) -> pa.Table | None:
    """The score columns (``SCORE_STAGE``) of each accepted row, row for row; None when
    some row has no score (the batch is then left to the scorer, as post-commit work)."""
    table = scores if isinstance(scores, pa.Table) else pa.Table.from_batches([scores])
    at = pc.index_in(ok.keys, value_set=key(table))
    if at.null_count:
        logger.warning("%(n)d rows have no score: the batch is scored after commit",
                       {"n": at.null_count})
        return None
    return table.select(SCORE_STAGE.names).cast(SCORE_STAGE).take(at)


def _score_unchanged(conn: psycopg.Connection, ok: _Screened, c: Classified,
                     scored: pa.Table, state: pa.Table | None) -> None:
    """Unchanged listings (not staged) keep their rows; only a score that moved is
    rewritten (``storage.scores``). Where ``state`` holds the listings' stored scores (read
    in this transaction, after the event lock), only the moved ones are sent at all: a
    re-crawl otherwise sent every unchanged listing to a primary-key probe (313k probes
    to rewrite 28k scores in ``bench.pipeline --listings 400000``)."""
    keep = c.status == KEEP
    if state is not None and "scores_read" in state.column_names:
        at = pa.array(c.pos[keep])
        stored = state.select(STORED_SCORES.names).take(at)
        unknown = ~pc.fill_null(stored["scores_read"], False).to_numpy(zero_copy_only=False)
        keep[keep] = moved(stored, scored.filter(pa.array(keep))) | unknown
    if not keep.any():
        return
    send = pa.array(keep)
    rows = ok.rows.filter(send)
    write_scores(conn, pa.table({
        "marketplace": rows["marketplace"], "listing_id": rows["listing_id"],
        "observed_at": rows["observed_at"],
        **{name: scored[name].filter(send) for name in SCORE_STAGE.names}}))


def _bump_versions(cur: psycopg.Cursor, event_id: pa.ChunkedArray) -> dict[int, int]:
    """Bump the versions of the batch's known events, refused rows' included (which also
    locks them against other writers until this transaction ends); each one's new version."""
    events = sorted(pc.unique(pc.drop_null(event_id)).to_pylist())
    return dict(cur.execute(_sql.BUMP, (events,)).fetchall())


def _apply(conn: psycopg.Connection, cur: psycopg.Cursor, ok: _Screened, c: Classified,
           lacking: pa.Table, sources: pa.Table, touch_us: int | None,
           versions: dict[int, int], scored: pa.Table | None
           ) -> tuple[Classified, int, pa.Table, bool]:
    """Write what the classification says; returns the classification that was applied,
    the snapshot rows written, the listings marked gone and whether it had to retry.

    The first attempt runs in a savepoint with plain INSERTs. A unique violation means a
    concurrent writer inserted some of the listings, or they moved here from another event:
    then the rows are classified again against their state read by key, and applied with
    ``ON CONFLICT DO NOTHING``.
    """
    crawled = sources["source_event_id"].to_pylist()
    try:
        with conn.transaction():
            written, gone = apply_changes(cur, ok.rows, ok.event_id, c.status, lacking,
                                          crawled, on_conflict=False, scores=scored)
        return c, written, gone, False
    except psycopg.errors.UniqueViolation:
        logger.info("listings moved events or a concurrent writer inserted them: "
                    "classifying again by key")
    keyed = read_key_state(cur, ok.rows["marketplace"].to_pylist(),
                           ok.rows["listing_id"].to_pylist())
    c = classify(ok.rows, keyed, touch_us)
    moved = sorted(set(keyed["event_id"].to_pylist()) - set(versions))
    if moved:  # listings leave other events: their cached states are stale
        cur.execute(_sql.BUMP, (moved,))
    written, gone = apply_changes(cur, ok.rows, ok.event_id, c.status, lacking, crawled,
                                  on_conflict=True, scores=scored)
    return c, written, gone, True


def _report(ok: _Screened, c: Classified, written: int, gone: pa.Table,
            scored: pa.Table | None) -> IngestResult:
    """What the batch changed, from the Arrow side (replays are reported again); a scored
    batch's changes carry their deal score as stored (``real``)."""
    stored = None if scored is None else \
        scored["deal_score"].cast(pa.float32()).cast(pa.float64())
    changed = changes(ok.rows, ok.event_id, c, stored)
    is_new = pc.is_null(changed.column("old_total_cents"))
    return IngestResult(
        inserted=written, unchanged=c.count(TOUCH, KEEP), quarantined=ok.refused.num_rows,
        stale=c.count(OLDER), new_listings=changed.filter(is_new),
        price_changes=changed.filter(pc.invert(is_new)), gone=gone,
        scored=scored is not None)
