"""Post-commit work (``post_commit_work``): a transactional outbox for deal scoring and
alert matching of committed listing batches.

``record_work`` runs inside the batch's own transaction (``write_snapshots(...,
post_commit=True)``, ``mark_gone``), so the batch and the work it calls for commit together.
The engine does the work at once and ``finish_work`` clears its part (in the transaction
that stores the scores); whatever is left (the actor died, the database went away) is
``claim_due``-ed, ``FOR UPDATE SKIP LOCKED`` by any number of reapers, done again
(scoring and matching are idempotent) and finished, or ``fail_work`` schedules the next
attempt with exponential backoff and jitter. ``work_counts`` says what is pending / failed.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from storage.db import record_row

if TYPE_CHECKING:
    import psycopg

    from storage.ingest.result import IngestResult

Kind = Literal["score", "match"]
#: attempts after which pending work counts as failed (it is still retried)
FAILED_AFTER = 5
_IPC = pa.ipc.IpcWriteOptions(compression="lz4")

_INSERT = """
INSERT INTO post_commit_work (score_pending, match_pending, listings, changes)
VALUES (%s, %s, %s, %s) RETURNING id
"""
_FINISH = {
    "score": "UPDATE post_commit_work SET score_pending = false WHERE id = %s",
    "match": "UPDATE post_commit_work SET match_pending = false WHERE id = %s",
}
_CLEAN = """
DELETE FROM post_commit_work WHERE id = %s AND NOT score_pending AND NOT match_pending
"""
_CLAIM = {kind: f"""
SELECT id, {col} AS payload, attempts FROM post_commit_work
WHERE {kind}_pending AND (next_attempt_at <= now() OR %(all)s)
ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
""" for kind, col in (("score", "listings"), ("match", "changes"))}
_FAIL = """
UPDATE post_commit_work SET attempts = attempts + 1, last_error = left(%s, 500),
    next_attempt_at = now() + make_interval(
        secs => least(300, 2 ^ least(attempts, 12)) * (0.5 + random()))
WHERE id = %s
"""
_COUNTS = f"""
SELECT count(*) FILTER (WHERE score_pending) AS score_pending,
       count(*) FILTER (WHERE match_pending) AS match_pending,
       count(*) FILTER (WHERE attempts >= {FAILED_AFTER}) AS failed,
       coalesce(max(attempts), 0) AS max_attempts
FROM post_commit_work
"""


@dataclasses.dataclass(slots=True)
class WorkCounts:
    """What post-commit work is not done yet."""

    score_pending: int = 0
    match_pending: int = 0
    failed: int = 0  # pending and tried at least ``FAILED_AFTER`` times
    max_attempts: int = 0

    @property
    def pending(self) -> int:
        return self.score_pending + self.match_pending


@dataclasses.dataclass(slots=True)
class ClaimedWork:
    """One claimed piece of work (its row stays locked until the transaction ends)."""

    id: int
    payload: bytes | None
    attempts: int


def _encode(*tables: pa.Table | pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    for table in tables:
        with pa.ipc.new_stream(sink, table.schema, options=_IPC) as writer:
            writer.write(table)
    return sink.getvalue().to_pybytes()


def _decode(payload: bytes) -> list[pa.Table]:
    reader = pa.BufferReader(payload)
    out = []
    while reader.tell() < reader.size():
        out.append(pa.ipc.open_stream(reader).read_all())
    return out


def record_work(cur: psycopg.Cursor, listings: pa.Table | pa.RecordBatch | None,
                changes: IngestResult | None) -> int | None:
    """Record the scoring of ``listings`` and the matching of ``changes`` (either may be
    None or empty) in the caller's transaction; returns the work id (None: nothing to do)."""
    score = listings is not None and listings.num_rows > 0
    match = changes is not None and changes.changed
    if not (score or match):
        return None
    row = cur.execute(_INSERT, (
        score, match, _encode(listings) if score else None,
        _encode(changes.new_listings, changes.price_changes, changes.gone)  # type: ignore[union-attr]
        if match else None)).fetchone()
    return int(row[0]) if row else None


def finish_work(conn: psycopg.Connection, work_id: int | None, kind: Kind) -> None:
    """``kind`` of this work is done (in the caller's transaction, if one is open)."""
    if work_id is None:
        return
    with conn.transaction():
        conn.execute(_FINISH[kind], (work_id,))
        conn.execute(_CLEAN, (work_id,))


def claim_due(conn: psycopg.Connection, kind: Kind, *, everything: bool = False
              ) -> ClaimedWork | None:
    """Lock the oldest ``kind`` work that is due (``everything``: due or not) in the
    caller's open transaction; None when there is none (or all of it is locked)."""
    with conn.cursor(row_factory=record_row(ClaimedWork)) as cur:
        return cur.execute(_CLAIM[kind], {"all": everything}).fetchone()


def fail_work(conn: psycopg.Connection, work_id: int, error: str) -> None:
    """Count a failed attempt; the next one is due after a jittered exponential backoff."""
    with conn.transaction():
        conn.execute(_FAIL, (error, work_id))


def work_counts(conn: psycopg.Connection) -> WorkCounts:
    with conn.cursor(row_factory=record_row(WorkCounts)) as cur:
        row = cur.execute(_COUNTS).fetchone()
    return row or WorkCounts()


def listings_of(work: ClaimedWork) -> pa.RecordBatch:
    """The batch a claimed scoring job scores."""
    assert work.payload is not None
    table = _decode(work.payload)[0]
    return table.combine_chunks().to_batches()[0] if table.num_rows else \
        pa.RecordBatch.from_pylist([], schema=table.schema)


def changes_of(work: ClaimedWork) -> IngestResult:
    """The changes a claimed matching job matches."""
    from storage.ingest.result import (
        CHANGE_SCHEMA,
        GONE_SCHEMA,
        SCORED_CHANGE_FIELD,
        IngestResult,
    )

    def as_changes(table: pa.Table) -> pa.Table:  # a scored batch's carry their scores
        scored = SCORED_CHANGE_FIELD.name in table.column_names
        return table.cast(pa.schema([*CHANGE_SCHEMA, SCORED_CHANGE_FIELD]) if scored
                          else CHANGE_SCHEMA)

    assert work.payload is not None
    new, changed, gone = _decode(work.payload)
    return IngestResult(new_listings=as_changes(new), price_changes=as_changes(changed),
                        gone=gone.cast(GONE_SCHEMA))
