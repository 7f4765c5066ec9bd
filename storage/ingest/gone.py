"""Gone marking and complete-crawl records.

A listing is gone when a complete crawl of its source event did not see it. A complete
crawl is recorded once per source event (``source_event_crawls``), which vouches for every
listing it did not mark gone (``listing_last_seen()``), so unchanged listings cost nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage.ingest import _sql
from storage.ingest.classify import key
from storage.ingest.result import IngestResult, gone_table
from storage.records import TS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    import psycopg


def mark_gone(
    conn: psycopg.Connection,
    marketplace: str,
    source_event_id: str,
    seen_listing_ids: list[str],
    observed_at: datetime,
) -> pa.Table:
    """After a complete crawl of one event on one marketplace, mark the listings it did not
    see as gone (``gone_at = observed_at``); returns them (``GONE_SCHEMA``). The others
    were seen (at ``observed_at``): that is recorded once for the event, not per listing.
    """
    return mark_gone_recorded(conn, marketplace, source_event_id, seen_listing_ids,
                              observed_at, post_commit=False).gone


def mark_gone_recorded(conn: psycopg.Connection, marketplace: str, source_event_id: str,
                       seen_listing_ids: list[str], observed_at: datetime, *,
                       post_commit: bool = True) -> IngestResult:
    """``mark_gone``, recording the alert matching of what went as post-commit work in the
    same transaction (``storage.post_commit``; the result's ``work_id`` names it)."""
    from storage.post_commit import record_work

    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_sql.BUMP_SOURCE, (marketplace, source_event_id))
        rows = cur.execute(
            _sql.MARK_GONE,
            {"at": observed_at, "mk": marketplace, "ev": source_event_id,
             "seen": list(seen_listing_ids)},
        ).fetchall()
        cur.execute(_sql.CRAWLED, ([marketplace], [source_event_id], [_micros(observed_at)]))
        result = IngestResult(gone=gone_table(rows))
        if post_commit:
            result.work_id = record_work(cur, None, result)
    return result


def mark_staged_gone(cur: psycopg.Cursor, sources: Sequence[str]) -> pa.Table:
    """Mark gone the listings staged as missing (status ``GONE``) of these source events;
    returns them (``GONE_SCHEMA``)."""
    return gone_table(cur.execute(_sql.MARK_GONE_STAGED, (sources,)).fetchall())


def record_crawl(cur: psycopg.Cursor, sources: pa.Table, rows: pa.Table,
                 one_time: pa.Scalar | None) -> np.ndarray:
    """Record a complete crawl of the batch's source events (``source_event_crawls``, at each
    one's first observation in the batch); returns that time for each of ``rows``.
    ``one_time``: the batch's only observation time, if it has one (a crawl shard's).
    """
    cur.execute(_sql.CRAWLED, (sources["marketplace"].to_pylist(),
                               sources["source_event_id"].to_pylist(),
                               sources["first_at"].cast(pa.int64()).to_pylist()))
    if one_time is not None:  # no lookup per row
        return np.full(rows.num_rows, one_time.cast(pa.int64()).as_py())
    where = pc.index_in(key(rows, right="source_event_id"),
                        value_set=key(sources, right="source_event_id"))
    return pc.take(sources["first_at"], where).cast(pa.int64()).to_numpy(
        zero_copy_only=False)


def _micros(at: datetime) -> int:
    return pa.scalar(at, TS).cast(pa.int64()).as_py()
