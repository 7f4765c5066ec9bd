"""The temp stage: the rows that change something, by one binary COPY, then set-based SQL.

One binary COPY into the session's temp stage, then INSERT ... SELECT into the real tables:
measured faster than COPY straight into them (COPY's bulk-write ring makes the backend flush
WAL each time the ring wraps). The stage also pins the join plans: with no statistics on it,
the planner probes the primary key per staged row rather than hashing every listing.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np
import psycopg
import pyarrow as pa

from storage.copy import copy_arrow
from storage.ingest import _sql
from storage.ingest.classify import CHANGED, GONE, NEW, TOUCH
from storage.ingest.gone import mark_staged_gone
from storage.ingest.result import GONE_SCHEMA

if TYPE_CHECKING:
    from collections.abc import Sequence

#: a scored batch's score columns as staged (``_sql.SCORE_COLUMNS``, in that order)
SCORE_STAGE = pa.schema([
    pa.field("fair_value_cents", pa.int64()), pa.field("deal_score", pa.float64()),
    pa.field("deal_reason", pa.string()), pa.field("model_version", pa.string())])


def prepare_stage(conn: psycopg.Connection) -> None:
    """Give this session's temp table room in memory before its first use (a batch of
    50k changed rows is ~10 MB; the default 8 MB of temp_buffers would spill to disk).
    """
    if conn.execute(_sql.STAGE_EXISTS).fetchone()[0] is None:
        with contextlib.suppress(psycopg.errors.ActiveSqlTransaction,
                                 psycopg.errors.InvalidParameterValue), conn.transaction():
            conn.execute(_sql.TEMP_BUFFERS)


def apply_changes(cur: psycopg.Cursor, rows: pa.Table, event_id: pa.ChunkedArray,
                  status: np.ndarray, missing: pa.Table, sources: Sequence[str], *,
                  on_conflict: bool, scores: pa.Table | None = None) -> tuple[int, pa.Table]:
    """Stage the rows that change something and apply them; returns the snapshot rows
    written and the listings marked gone (of ``missing``, listings of the crawled
    ``sources`` a complete crawl lacks).

    Plain INSERTs first (classification says the rows are absent; no speculative
    insertion); ``on_conflict`` for the retry after a concurrent writer or a listing that
    moved events got there first. ``scores``: the rows' deal scores (``SCORE_STAGE``,
    row for row), written with them (new listings once, already scored).
    """
    act = np.isin(status, (NEW, CHANGED, TOUCH))
    if not act.any() and not missing.num_rows:
        return 0, GONE_SCHEMA.empty_table()
    mask = pa.array(act)
    stage = rows.filter(mask).append_column("event_id", event_id.filter(mask)) \
        .append_column("status", pa.array(status[act], pa.string()))
    if scores is not None:
        for field in SCORE_STAGE:
            stage = stage.append_column(field, scores[field.name].filter(mask))
    if missing.num_rows:  # keys, time and status; the rest null
        n = missing.num_rows
        loose = pa.schema([f.with_nullable(True) for f in stage.schema])
        gone = pa.table({f.name: missing[f.name] if f.name in missing.column_names
                         else pa.nulls(n, f.type) for f in loose}, schema=loose)
        stage = pa.concat_tables([stage.cast(loose), gone.set_column(
            loose.get_field_index("status"), "status", pa.array([GONE] * n))])
    cur.execute(_sql.STAGE_DDL)
    copy_arrow(cur, stage, _sql.STAGE_TARGET if scores is None else _sql.STAGE_SCORED_TARGET)
    tail = _sql.ON_CONFLICT if on_conflict else ""
    written = 0
    if act.any():
        written = cur.execute(_sql.INSERT_SNAPSHOTS + tail).rowcount
        cur.execute(_sql.INSERT_NEW + tail)
        cur.execute(_sql.UPDATE_CHANGED)
    if not missing.num_rows:
        return written, GONE_SCHEMA.empty_table()
    return written, mark_staged_gone(cur, sources)


def quarantine(cur: psycopg.Cursor, rows: pa.Table, event_id: pa.ChunkedArray,
               reason: pa.ChunkedArray) -> None:
    """Keep refused rows in ``quarantine``, each whole observation with its reason."""
    cur.execute(_sql.STAGE_DDL)
    stage = rows.append_column("event_id", event_id).append_column("status", reason)
    copy_arrow(cur, stage, _sql.STAGE_TARGET)
    cur.execute(_sql.QUARANTINE)
