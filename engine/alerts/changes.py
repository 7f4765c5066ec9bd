"""What the matcher consumes: one Arrow table of changed listings plus the events touched.

``storage.ingest.write_snapshots`` returns new listings, price changes and gone listings in
separate tables (``IngestResult``); a deal scorer returns scored batches. Both are folded
here into storage's ``MATCH_SCHEMA`` so the matcher has one shape to COPY into PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from storage.alerts.matching import MATCH_SCHEMA


@dataclasses.dataclass(slots=True)
class Changes:
    """Changed listings (``MATCH_SCHEMA``) and ids of events whose stock may have moved."""

    listings: pa.Table
    gone_events: list[int]
    gone_at: Any = None  # latest gone_at (datetime) among the gone listings

    @property
    def empty(self) -> bool:
        return self.listings.num_rows == 0 and not self.gone_events


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _conform(table: pa.Table, is_new: bool | None) -> pa.Table:
    """``table`` with exactly ``MATCH_SCHEMA``'s columns (missing ones null)."""
    cols = []
    for field in MATCH_SCHEMA:
        if field.name == "is_new":
            cols.append(pa.array([is_new] * table.num_rows, pa.bool_()))
        elif field.name in table.column_names:
            cols.append(pc.cast(table.column(field.name), field.type))
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=MATCH_SCHEMA)


def _table(value: Any) -> pa.Table | None:
    if value is None:
        return None
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if isinstance(value, pa.Table):
        return value
    return None


def normalize(changes: Any) -> Changes:
    """Fold an ``IngestResult`` (or a dict with the same keys, a bare gone table from
    ``mark_gone``, or a scored listings batch) into :class:`Changes`."""
    parts: list[pa.Table] = []
    gone: pa.Table | None = None
    direct = _table(changes)
    if direct is not None:
        if "gone_at" in direct.column_names:
            gone = direct
        elif direct.num_rows:
            parts.append(_conform(direct, None))
    else:
        for name, is_new in (("new_listings", True), ("price_changes", False),
                             ("scored", None)):
            t = _table(_get(changes, name))
            if t is not None and t.num_rows:
                parts.append(_conform(t, is_new))
        gone = _table(_get(changes, "gone"))
    listings = pa.concat_tables(parts) if parts else MATCH_SCHEMA.empty_table()
    gone_events: list[int] = []
    gone_at = None
    if gone is not None and gone.num_rows:
        gone_events = sorted({int(e) for e in gone.column("event_id").to_pylist()
                              if e is not None})
        gone_at = pc.max(gone.column("gone_at")).as_py()
    return Changes(listings=listings, gone_events=gone_events, gone_at=gone_at)
