"""The write path: Arrow listing batches into snapshots + ``listings_current``, in one
transaction per batch, reporting what changed.

Throughput comes from writing less: a snapshot row is written only when a listing is new or
its price / quantity changed; an unchanged re-crawl only moves ``last_seen``. The batch goes
to the server with one binary COPY (``pgpq`` encodes Arrow columns without per-row Python)
into a session temp table; set-based SQL does validation, change detection and the upserts.

Idempotent: a snapshot's key is ``(event_id, marketplace, listing_id, observed_at)`` and a
re-sent batch finds ``listings_current`` already at that observation, so it writes nothing
new and reports the same changes again (``prev_total_cents`` / ``first_seen`` /
``last_changed`` let a retry reproduce them), which keeps alerting exactly-once downstream.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from storage.events import upsert_events
from storage.partitions import ensure_partitions
from storage.records import LISTING_SCHEMA, TS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from storage.records import PriceStats, Reject

__all__ = [
    "CHANGE_SCHEMA",
    "GONE_SCHEMA",
    "IngestResult",
    "mark_gone",
    "upsert_events",
    "write_price_stats",
    "write_rejects",
    "write_snapshots",
]

logger = logging.getLogger(__name__)

#: New listings and price changes: one row per changed listing (``old_total_cents`` is null
#: for new ones).
CHANGE_SCHEMA = pa.schema(
    [
        pa.field("marketplace", pa.string()),
        pa.field("listing_id", pa.string()),
        pa.field("event_id", pa.int64()),
        pa.field("section", pa.string()),
        pa.field("row", pa.string()),
        pa.field("quantity", pa.int32()),
        pa.field("old_total_cents", pa.int64()),
        pa.field("total_cents", pa.int64()),
        pa.field("observed_at", TS),
    ]
)

#: Listings absent from a complete crawl of their event.
GONE_SCHEMA = pa.schema(
    [
        pa.field("marketplace", pa.string()),
        pa.field("listing_id", pa.string()),
        pa.field("event_id", pa.int64()),
        pa.field("total_cents", pa.int64()),
        pa.field("gone_at", TS),
    ]
)


@dataclasses.dataclass(slots=True)
class IngestResult:
    """What one batch changed: cheap to pickle (Arrow tables and ints), for Ray."""

    inserted: int = 0  # snapshot rows written (new listings + changes)
    unchanged: int = 0  # observations that only moved last_seen
    quarantined: int = 0  # rows refused, with a reason, into ``quarantine``
    stale: int = 0  # observations older than what we already have (ignored)
    new_listings: pa.Table = dataclasses.field(default_factory=CHANGE_SCHEMA.empty_table)
    price_changes: pa.Table = dataclasses.field(default_factory=CHANGE_SCHEMA.empty_table)
    gone: pa.Table = dataclasses.field(default_factory=GONE_SCHEMA.empty_table)

    @property
    def changed(self) -> bool:
        return bool(self.new_listings.num_rows or self.price_changes.num_rows
                    or self.gone.num_rows)


_COLUMNS = LISTING_SCHEMA.names
_QCOLS = ", ".join(f'"{c}"' for c in _COLUMNS)

_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS _ripcity_stage (
    observed_at timestamptz, marketplace text COLLATE "C", listing_id text COLLATE "C",
    source_event_id text COLLATE "C",
    section text, "row" text, seats text, quantity integer, splits text,
    price_cents bigint, fees_cents bigint, total_cents bigint, currency text,
    delivery text, kind text, zone text
);
CREATE TEMP TABLE IF NOT EXISTS _ripcity_cls (
    LIKE _ripcity_stage, event_id bigint, status "char", old_total_cents bigint
);
TRUNCATE _ripcity_stage, _ripcity_cls;
"""
assert _QCOLS  # the stage columns above follow LISTING_SCHEMA's order exactly

# Why a row is refused, first matching reason wins (also used by import).
_REASON = """CASE
    WHEN es.event_id IS NULL THEN 'unknown event'
    WHEN s.price_cents IS NULL THEN 'null price'
    WHEN s.total_cents IS NULL THEN 'null total'
    WHEN s.price_cents < 0 THEN 'negative price'
    WHEN s.quantity IS NULL OR s.quantity <= 0 THEN 'quantity not positive'
    WHEN s.total_cents < s.price_cents THEN 'total below price'
END"""

_QUARANTINE = f"""
INSERT INTO quarantine (observed_at, marketplace, source, reason, raw, listing_id,
                        source_event_id)
SELECT s.observed_at, s.marketplace, 'ingest', r.reason, row_to_json(s)::text, s.listing_id,
       s.source_event_id
FROM _ripcity_stage s
LEFT JOIN event_sources es USING (marketplace, source_event_id)
CROSS JOIN LATERAL (SELECT {_REASON} AS reason) r
WHERE r.reason IS NOT NULL
"""

# n = new, c = changed, s = same (only last_seen moves), k = same and last_seen is recent
# enough (nothing written), o = older than current (ignored);
# N / C = a replay of the observation that made the listing new / changed (a retried batch).
_CLASSIFY = f"""
INSERT INTO _ripcity_cls
SELECT s.*, es.event_id,
    CASE
        WHEN c.listing_id IS NULL THEN 'n'
        WHEN s.observed_at < c.last_seen THEN 'o'
        WHEN s.observed_at = c.first_seen THEN 'N'
        WHEN s.observed_at = c.last_changed AND c.prev_total_cents IS NOT NULL THEN 'C'
        WHEN (s.total_cents, s.price_cents, s.quantity)
             IS DISTINCT FROM (c.total_cents, c.price_cents, c.quantity) THEN 'c'
        WHEN c.gone_at IS NOT NULL OR s.observed_at - c.last_seen >= %(touch)s THEN 's'
        ELSE 'k'
    END,
    CASE WHEN s.observed_at = c.last_changed THEN c.prev_total_cents ELSE c.total_cents END
FROM _ripcity_stage s
JOIN event_sources es USING (marketplace, source_event_id)
LEFT JOIN listings_current c USING (marketplace, listing_id)
WHERE {_REASON.replace("CASE", "(CASE", 1)}) IS NULL
"""

_SNAPSHOT_COLS = (
    'observed_at, event_id, marketplace, listing_id, source_event_id, section, "row", seats, '
    "quantity, splits, price_cents, fees_cents, total_cents, currency, delivery, kind, zone"
)

# Replays (N, C) were written by the attempt being retried: only n and c are new rows.
_INSERT_SNAPSHOTS = f"""
INSERT INTO listing_snapshots ({_SNAPSHOT_COLS})
SELECT {_SNAPSHOT_COLS} FROM _ripcity_cls WHERE status IN ('n', 'c')
"""

_CURRENT_COLS = _SNAPSHOT_COLS.removeprefix("observed_at, ")
_INSERT_NEW = f"""
INSERT INTO listings_current ({_CURRENT_COLS}, first_seen, last_seen, last_changed)
SELECT {_CURRENT_COLS}, observed_at, observed_at, observed_at
FROM _ripcity_cls WHERE status = 'n'
"""
_ON_CONFLICT = "\nON CONFLICT DO NOTHING"

_UPDATE_CHANGED = """
UPDATE listings_current c SET
    event_id = x.event_id, source_event_id = x.source_event_id, section = x.section,
    "row" = x."row", seats = x.seats, quantity = x.quantity, splits = x.splits,
    price_cents = x.price_cents, fees_cents = x.fees_cents, total_cents = x.total_cents,
    prev_total_cents = c.total_cents, currency = x.currency, delivery = x.delivery,
    kind = x.kind, zone = x.zone, last_seen = x.observed_at, last_changed = x.observed_at,
    gone_at = NULL
FROM _ripcity_cls x
WHERE x.status = 'c' AND c.marketplace = x.marketplace AND c.listing_id = x.listing_id
"""

_TOUCH_SAME = """
UPDATE listings_current c SET last_seen = x.observed_at, gone_at = NULL
FROM _ripcity_cls x
WHERE x.status = 's' AND c.marketplace = x.marketplace AND c.listing_id = x.listing_id
"""

_COUNTS = "SELECT status, count(*) FROM _ripcity_cls GROUP BY status"

_CHANGES = """
COPY (
    SELECT marketplace, listing_id, event_id, section, "row", quantity,
           CASE WHEN status IN ('n', 'N') THEN NULL ELSE old_total_cents END,
           total_cents, (extract(epoch FROM observed_at) * 1000000)::bigint
    FROM _ripcity_cls WHERE status IN ('n', 'c', 'N', 'C')
) TO STDOUT (FORMAT csv)
"""


def _prepare_stage(conn: psycopg.Connection) -> None:
    """Give this session's temp tables room in memory before their first use (a batch of
    50k rows is ~10 MB; the default 8 MB of temp_buffers would spill every batch to disk).
    """
    if conn.execute("SELECT to_regclass('pg_temp._ripcity_stage')").fetchone()[0] is None:
        with contextlib.suppress(psycopg.errors.ActiveSqlTransaction,
                                 psycopg.errors.InvalidParameterValue), conn.transaction():
            conn.execute("SET temp_buffers = '128MB'")


def _dedupe(batch: pa.RecordBatch) -> pa.Table:
    """The batch as a table, keeping only each listing's latest observation.

    A page overlap can repeat a listing within a batch; the upsert must see each key once.
    """
    table = pa.Table.from_batches([batch])
    keys = table.group_by(["marketplace", "listing_id"], use_threads=False).aggregate([])
    if keys.num_rows == table.num_rows:
        return table
    table = table.sort_by([("marketplace", "ascending"), ("listing_id", "ascending"),
                           ("observed_at", "descending")])
    mk, lid = table.column("marketplace"), table.column("listing_id")
    first = pc.or_(pc.not_equal(mk, _shift(mk)), pc.not_equal(lid, _shift(lid)))
    return table.filter(pc.fill_null(first, True))


def _shift(col: pa.ChunkedArray) -> pa.Array:
    """``col`` moved down one place (first slot null): compare each row with its previous."""
    arr = col.combine_chunks()
    return pa.concat_arrays([pa.nulls(1, arr.type), arr.slice(0, len(arr) - 1)])


def _copy_binary(cur: psycopg.Cursor, table: pa.Table, target: str) -> None:
    from pgpq import ArrowToPostgresBinaryEncoder

    encoder = ArrowToPostgresBinaryEncoder(table.schema)
    with cur.copy(f"COPY {target} FROM STDIN (FORMAT binary)") as copy:
        copy.write(encoder.write_header())
        for b in table.to_batches(max_chunksize=65_536):
            copy.write(encoder.write_batch(b))
        copy.write(encoder.finish())


def _read_csv(data: bytes, schema: pa.Schema) -> pa.Table:
    """Parse COPY ... TO STDOUT (FORMAT csv) output; timestamps arrive as epoch µs.

    Unquoted empty fields are NULL, quoted ones empty strings (PostgreSQL's CSV rules).
    """
    if not data:
        return schema.empty_table()
    wire = pa.schema([pa.field(f.name, pa.int64() if f.type == TS else f.type)
                      for f in schema])
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=schema.names),
        convert_options=pacsv.ConvertOptions(
            column_types=wire, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    return table.cast(schema)


def _copy_out(cur: psycopg.Cursor, statement: str) -> bytes:
    buf = bytearray()
    with cur.copy(statement) as copy:
        for chunk in copy:
            buf += chunk
    return bytes(buf)


def _insert_new_rows(conn: psycopg.Connection, cur: psycopg.Cursor) -> int:
    """Insert new snapshot rows and new current listings; returns snapshot rows written.

    Plain INSERTs first (the classification says the rows are absent, and skipping the
    speculative-insertion check is ~15 % cheaper); if a concurrent writer of the same
    listings got there first, redo them with ON CONFLICT DO NOTHING.
    """
    try:
        with conn.transaction():
            written = cur.execute(_INSERT_SNAPSHOTS).rowcount
            cur.execute(_INSERT_NEW)
            return written
    except psycopg.errors.UniqueViolation:
        logger.info("concurrent writer inserted the same listings; retrying with ON CONFLICT")
        written = cur.execute(_INSERT_SNAPSHOTS + _ON_CONFLICT).rowcount
        cur.execute(_INSERT_NEW + _ON_CONFLICT)
        return written


def write_snapshots(
    conn: psycopg.Connection,
    batch: pa.RecordBatch | pa.Table,
    *,
    complete: bool = False,
    touch_interval_s: float | None = None,
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
    """
    if touch_interval_s is None:
        from storage.config import get_settings

        touch_interval_s = get_settings().last_seen_resolution_s
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else \
            pa.RecordBatch.from_pylist([], schema=LISTING_SCHEMA)
    if batch.schema != LISTING_SCHEMA:
        batch = batch.select(LISTING_SCHEMA.names).cast(LISTING_SCHEMA)
    result = IngestResult()
    if batch.num_rows == 0:
        return result
    table = _dedupe(batch)
    lo, hi = pc.min_max(table.column("observed_at")).values()
    with conn.transaction(), conn.cursor() as cur:
        ensure_partitions(conn, lo.as_py(), hi.as_py())
        _prepare_stage(conn)
        cur.execute(_STAGE_DDL)
        _copy_binary(cur, table, f"_ripcity_stage ({_QCOLS})")
        result.quarantined = cur.execute(_QUARANTINE).rowcount
        cur.execute(_CLASSIFY, {"touch": timedelta(seconds=touch_interval_s)})
        result.inserted = _insert_new_rows(conn, cur)
        cur.execute(_UPDATE_CHANGED)
        cur.execute(_TOUCH_SAME)
        counts = dict(cur.execute(_COUNTS).fetchall())
        changes = _read_csv(_copy_out(cur, _CHANGES), CHANGE_SCHEMA)
        if complete:
            result.gone = _mark_gone_from_stage(cur)
    result.unchanged = counts.get("s", 0) + counts.get("k", 0)
    result.stale = counts.get("o", 0)
    is_new = pc.is_null(changes.column("old_total_cents"))
    result.new_listings = changes.filter(is_new)
    result.price_changes = changes.filter(pc.invert(is_new))
    return result


_GONE_FROM_STAGE = """
WITH crawled AS (
    SELECT es.event_id, s.marketplace, max(s.observed_at) AS at
    FROM _ripcity_stage s JOIN event_sources es USING (marketplace, source_event_id)
    GROUP BY 1, 2
)
UPDATE listings_current c SET gone_at = k.at
FROM crawled k
WHERE c.event_id = k.event_id AND c.marketplace = k.marketplace AND c.gone_at IS NULL
  AND c.last_seen < k.at
  AND NOT EXISTS (SELECT 1 FROM _ripcity_stage s
                  WHERE s.marketplace = c.marketplace AND s.listing_id = c.listing_id)
RETURNING c.marketplace, c.listing_id, c.event_id, c.total_cents, c.gone_at
"""


def _mark_gone_from_stage(cur: psycopg.Cursor) -> pa.Table:
    rows = cur.execute(_GONE_FROM_STAGE).fetchall()
    return pa.Table.from_pylist(
        [dict(zip(GONE_SCHEMA.names, r, strict=True)) for r in rows], schema=GONE_SCHEMA
    )


_MARK_GONE = """
UPDATE listings_current c SET gone_at = %(at)s
FROM event_sources es
WHERE es.marketplace = %(mk)s AND es.source_event_id = %(ev)s
  AND c.event_id = es.event_id AND c.marketplace = es.marketplace
  AND c.gone_at IS NULL AND c.last_seen < %(at)s
  AND NOT (c.listing_id = ANY(%(seen)s))
RETURNING c.marketplace, c.listing_id, c.event_id, c.total_cents, c.gone_at
"""


def mark_gone(
    conn: psycopg.Connection,
    marketplace: str,
    source_event_id: str,
    seen_listing_ids: list[str],
    observed_at: datetime,
) -> pa.Table:
    """After a complete crawl of one event on one marketplace, mark the listings it did not
    see as gone (``gone_at = observed_at``); returns them (``GONE_SCHEMA``).
    """
    with conn.transaction():
        rows = conn.execute(
            _MARK_GONE,
            {"at": observed_at, "mk": marketplace, "ev": source_event_id,
             "seen": list(seen_listing_ids)},
        ).fetchall()
    return pa.Table.from_pylist(
        [dict(zip(GONE_SCHEMA.names, r, strict=True)) for r in rows], schema=GONE_SCHEMA
    )


_STATS = """
INSERT INTO event_price_stats (observed_at, event_id, marketplace, source_event_id,
    lowest_cents, lowest_base_cents, median_cents, average_cents, highest_cents,
    listing_count, currency)
SELECT %(observed_at)s, es.event_id, es.marketplace, es.source_event_id, %(lowest_cents)s,
    %(lowest_base_cents)s, %(median_cents)s, %(average_cents)s, %(highest_cents)s,
    %(listing_count)s, %(currency)s
FROM event_sources es WHERE es.marketplace = %(marketplace)s
    AND es.source_event_id = %(source_event_id)s
ON CONFLICT (event_id, marketplace, observed_at) DO UPDATE SET
    lowest_cents = EXCLUDED.lowest_cents, lowest_base_cents = EXCLUDED.lowest_base_cents,
    median_cents = EXCLUDED.median_cents, average_cents = EXCLUDED.average_cents,
    highest_cents = EXCLUDED.highest_cents, listing_count = EXCLUDED.listing_count,
    currency = EXCLUDED.currency
"""

_REJECT = """
INSERT INTO quarantine (observed_at, marketplace, source, reason, raw)
VALUES (%(observed_at)s, %(marketplace)s, %(source)s, %(reason)s, %(raw)s)
"""


def write_price_stats(conn: psycopg.Connection, stats: Sequence[PriceStats]) -> int:
    """Store marketplace price stats (idempotent per event, marketplace and time); stats of an
    unknown event are quarantined. Returns rows written.
    """
    if not stats:
        return 0
    written = 0
    with conn.transaction(), conn.cursor() as cur:
        times = [s.observed_at for s in stats]
        ensure_partitions(conn, min(times), max(times))
        for s in stats:
            cur.execute(_STATS, s.to_dict())
            if cur.rowcount:
                written += 1
            else:
                cur.execute(_REJECT, {
                    "observed_at": s.observed_at, "marketplace": s.marketplace,
                    "source": "price_stats", "reason": "unknown event",
                    "raw": json.dumps(s.to_dict(), default=str),
                })
    return written


def write_rejects(conn: psycopg.Connection, rejects: Sequence[Reject]) -> int:
    """Keep parser rejects in ``quarantine`` (reason, raw fragment, source URL)."""
    if not rejects:
        return 0
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(_REJECT, [r.to_dict() for r in rejects])
    return len(rejects)
