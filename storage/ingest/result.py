"""What a write reports: new listings, price changes and gone listings as Arrow tables."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from storage.records import TS, table_from_rows

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

#: The column a scored batch's changes add to ``CHANGE_SCHEMA``: the deal score as stored
#: (``real``), so the alert matcher does not read it back.
SCORED_CHANGE_FIELD = pa.field("deal_score", pa.float64())

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
    #: the post-commit work recorded with the batch (``storage.post_commit``), if asked for
    work_id: int | None = None
    #: the batch's deal scores were written with it (``write_snapshots(scores=...)``)
    scored: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.new_listings.num_rows or self.price_changes.num_rows
                    or self.gone.num_rows)


def gone_table(rows: list[tuple]) -> pa.Table:
    """Fetched ``RETURNING`` rows of the gone-marking statements as a ``GONE_SCHEMA`` table."""
    return table_from_rows(rows, GONE_SCHEMA)
