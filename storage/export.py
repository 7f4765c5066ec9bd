"""Parquet export / import of listing snapshots (backups, moving history between databases,
handing data to notebooks).

Export streams ``COPY ... TO STDOUT`` (CSV, parsed by Arrow's vectorised reader) into a
Parquet file batch by batch, so memory stays flat for any range. Import goes the other way
through the same binary COPY as ingest, resolving each row's event through
``event_sources`` (rows of unknown events are quarantined) and skipping rows already stored.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from storage.copy import copy_arrow
from storage.partitions import ensure_partitions
from storage.records import LISTING_SCHEMA, TS

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

#: A snapshot row as exported: the listing fields plus our canonical event id.
SNAPSHOT_SCHEMA = LISTING_SCHEMA.append(pa.field("event_id", pa.int64()))

Progress = Callable[[int], None]
_COLS = ", ".join(f'"{c}"' for c in SNAPSHOT_SCHEMA.names)
_WIRE = pa.schema([pa.field(f.name, pa.int64() if f.type == TS else f.type)
                   for f in SNAPSHOT_SCHEMA])


_COUNT = """
SELECT count(*) FROM listing_snapshots
WHERE observed_at >= %s AND (%s::timestamptz IS NULL OR observed_at < %s)
"""


def count_snapshots(conn: psycopg.Connection, since: datetime,
                    until: datetime | None = None) -> int:
    """Snapshots observed in ``[since, until)`` (what ``export_snapshots`` would write)."""
    return conn.execute(_COUNT, (since, until, until)).fetchone()[0]


def export_snapshots(
    conn: psycopg.Connection,
    path: str | os.PathLike[str],
    since: datetime,
    until: datetime | None = None,
    *,
    progress: Progress | None = None,
) -> int:
    """Write snapshots observed in ``[since, until)`` to a Parquet file; returns rows."""
    select = ", ".join(
        f"(extract(epoch FROM {c}) * 1000000)::bigint" if c == '"observed_at"' else c
        for c in _COLS.split(", ")
    )
    where = "observed_at >= %s" + (" AND observed_at < %s" if until else "")
    params = (since, until) if until else (since,)
    query = (f"COPY (SELECT {select} FROM listing_snapshots WHERE {where} "
             "ORDER BY observed_at) TO STDOUT (FORMAT csv)")
    rows = 0
    with tempfile.TemporaryDirectory(prefix="ripcity-export-") as tmp:
        csv_path = Path(tmp) / "snapshots.csv"
        with open(csv_path, "wb") as out, conn.cursor() as cur, \
                cur.copy(query, params) as copy:
            for chunk in copy:
                out.write(chunk)
        with pq.ParquetWriter(str(path), SNAPSHOT_SCHEMA, compression="zstd") as writer:
            if csv_path.stat().st_size:
                reader = pacsv.open_csv(
                    str(csv_path),
                    read_options=pacsv.ReadOptions(column_names=SNAPSHOT_SCHEMA.names,
                                                   block_size=8 << 20),
                    convert_options=pacsv.ConvertOptions(
                        column_types=_WIRE, strings_can_be_null=True,
                        quoted_strings_can_be_null=False),
                )
                for batch in reader:
                    table = pa.Table.from_batches([batch]).cast(SNAPSHOT_SCHEMA)
                    writer.write_table(table)
                    rows += table.num_rows
                    if progress:
                        progress(table.num_rows)
    logger.info("exported %(rows)d snapshots to %(path)s", {"rows": rows, "path": path})
    return rows


_IMPORT_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS _ripcity_import (
    observed_at timestamptz, marketplace text COLLATE "C", listing_id text COLLATE "C",
    source_event_id text COLLATE "C", section text, "row" text, seats text, quantity integer,
    splits text, price_cents bigint, fees_cents bigint, total_cents bigint, currency text,
    delivery text, kind text, zone text, event_id bigint
);
TRUNCATE _ripcity_import;
"""

_IMPORT_QUARANTINE = """
INSERT INTO quarantine (observed_at, marketplace, source, reason, raw, listing_id,
                        source_event_id)
SELECT i.observed_at, i.marketplace, 'import', 'unknown event', row_to_json(i)::text,
       i.listing_id, i.source_event_id
FROM _ripcity_import i
LEFT JOIN event_sources es USING (marketplace, source_event_id)
WHERE es.event_id IS NULL
"""

_IMPORT_INSERT = """
INSERT INTO listing_snapshots (observed_at, event_id, marketplace, listing_id,
    source_event_id, section, "row", seats, quantity, splits, price_cents, fees_cents,
    total_cents, currency, delivery, kind, zone)
SELECT i.observed_at, es.event_id, i.marketplace, i.listing_id, i.source_event_id,
    i.section, i."row", i.seats, i.quantity, i.splits, i.price_cents, i.fees_cents,
    i.total_cents, i.currency, i.delivery, i.kind, i.zone
FROM _ripcity_import i
JOIN event_sources es USING (marketplace, source_event_id)
WHERE i.price_cents IS NOT NULL AND i.total_cents IS NOT NULL AND i.quantity IS NOT NULL
ON CONFLICT DO NOTHING
"""


def import_snapshots(
    conn: psycopg.Connection,
    path: str | os.PathLike[str],
    *,
    progress: Progress | None = None,
) -> int:
    """Load a Parquet file written by ``export_snapshots``; returns rows inserted (rows
    already present are skipped, so importing twice is harmless). One transaction per
    row group.
    """
    source = pq.ParquetFile(str(path))
    missing = set(LISTING_SCHEMA.names) - set(source.schema_arrow.names)
    if missing:
        raise ValueError(
            f"{path}: not a snapshot export (missing columns {sorted(missing)}); "
            "use a file written by `ripcity db export`"
        )
    inserted = 0
    for i in range(source.num_row_groups):
        table = source.read_row_group(i)
        if "event_id" not in table.column_names:
            table = table.append_column("event_id", pa.nulls(table.num_rows, pa.int64()))
        table = table.select(SNAPSHOT_SCHEMA.names).cast(SNAPSHOT_SCHEMA)
        if table.num_rows == 0:
            continue
        lo, hi = pc.min_max(table.column("observed_at")).values()
        with conn.transaction(), conn.cursor() as cur:
            ensure_partitions(conn, lo.as_py(), hi.as_py())
            cur.execute(_IMPORT_STAGE)
            copy_arrow(cur, table, f"_ripcity_import ({_COLS})")
            cur.execute(_IMPORT_QUARANTINE)
            inserted += cur.execute(_IMPORT_INSERT).rowcount
        if progress:
            progress(table.num_rows)
    logger.info("imported %(rows)d snapshots from %(path)s", {"rows": inserted, "path": path})
    return inserted
