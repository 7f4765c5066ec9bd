"""Coalesce small page batches into larger chunks before COPY (fewer transactions).

A page holds tens to hundreds of listings; a COPY transaction costs about as much for a
few rows as for thousands, so pages are gathered to ``target_rows`` and stamped with the
shard's observation time (which makes a re-run of the shard idempotent).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from storage.records import LISTING_SCHEMA, TS, PriceStats, Reject, concat_batches

if TYPE_CHECKING:
    from crawler.items import PageRecords


@dataclasses.dataclass(slots=True)
class Chunk:
    """Listings of several pages plus their stats and rejects: one write transaction."""

    listings: pa.RecordBatch
    stats: list[PriceStats]
    rejects: list[Reject]
    pages: int


@dataclasses.dataclass(slots=True)
class EventTally:
    """Per event, across a shard: listing ids seen (for "gone") and the lowest price."""

    ids: list[list[str]] = dataclasses.field(default_factory=list)
    count: int = 0
    lowest_cents: int | None = None


def restamp(batch: pa.RecordBatch, observed_at: datetime) -> pa.RecordBatch:
    """``batch`` with every ``observed_at`` set to one instant (the shard's stamp)."""
    idx = batch.schema.get_field_index("observed_at")
    column = pa.repeat(pa.scalar(observed_at, TS), batch.num_rows)
    return batch.set_column(idx, batch.schema.field(idx), column)


class Coalescer:
    """Gathers pages; hands back chunks of about ``target_rows`` listings.

    Per-event tallies are taken once per chunk (one Arrow group-by over the whole chunk),
    not per page: a page is small, and per-page Arrow calls cost more than the work.
    """

    def __init__(self, target_rows: int, observed_at: datetime, *, track_ids: bool) -> None:
        self.target_rows = max(1, target_rows)
        self.observed_at = observed_at
        self.track_ids = track_ids
        self.tallies: dict[str, EventTally] = {}
        self._batches: list[pa.RecordBatch] = []
        self._rows = 0
        self._stats: list[PriceStats] = []
        self._rejects: list[Reject] = []
        self._pages = 0

    def add(self, page: PageRecords) -> Chunk | None:
        """Take one page; return a chunk when enough rows have gathered."""
        batch = page.listings
        if batch.num_rows:
            if batch.schema != LISTING_SCHEMA:
                batch = batch.select(LISTING_SCHEMA.names).cast(LISTING_SCHEMA)
            self._batches.append(batch)
            self._rows += batch.num_rows
        self._stats.extend(page.stats)
        self._rejects.extend(page.rejects)
        self._pages += 1
        return self.flush() if self._rows >= self.target_rows else None

    def _tally(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        aggs = [("total_cents", "min"), ("listing_id", "count")]
        if self.track_ids:
            aggs.append(("listing_id", "list"))
        groups = pa.Table.from_batches([batch]).group_by(
            "source_event_id", use_threads=False).aggregate(aggs)
        ids = groups["listing_id_list"].to_pylist() if self.track_ids else None
        for i, (eid, low, n) in enumerate(zip(groups["source_event_id"].to_pylist(),
                                              groups["total_cents_min"].to_pylist(),
                                              groups["listing_id_count"].to_pylist(),
                                              strict=True)):
            tally = self.tallies.setdefault(eid, EventTally())
            tally.count += n
            if low is not None and (tally.lowest_cents is None or low < tally.lowest_cents):
                tally.lowest_cents = low
            if ids is not None:
                tally.ids.append(ids[i])

    def flush(self) -> Chunk | None:
        """Whatever has gathered, as one chunk (``None`` when nothing has).

        The chunk's listings are one contiguous copy (not slices of the pages), so sending
        it to another actor serialises exactly its rows once.
        """
        if not self._pages:
            return None
        listings = restamp(concat_batches(self._batches, LISTING_SCHEMA), self.observed_at)
        self._tally(listings)
        chunk = Chunk(listings, self._stats, self._rejects, self._pages)
        self._batches, self._rows, self._stats, self._rejects, self._pages = [], 0, [], [], 0
        return chunk

    def seen_ids(self, source_event_id: str) -> list[str]:
        tally = self.tallies.get(source_event_id)
        if tally is None:
            return []
        return [x for ids in tally.ids for x in ids]
