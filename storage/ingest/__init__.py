"""The write path: Arrow listing batches into snapshots + ``listings_current``, in one
transaction per batch, reporting what changed.

Throughput comes from writing less: a snapshot row is written only when a listing is new or
its price / quantity changed. An unchanged listing costs nothing in a complete crawl of its
event (``complete``): one ``source_event_crawls`` row per source event vouches for all the
listings the crawl did not mark gone (``listing_last_seen()``). In a partial crawl it only
moves ``last_seen``, at most every ``RIPCITY_LAST_SEEN_RESOLUTION_S``.
Per batch: validation in Arrow; one read of the current state of every listing of the
batch's events (an index range scan per event, not an index probe per row), or the writer
connection's cached copy of it; classification in Arrow/numpy; then only the rows that
change something go to the server, with one binary COPY into a temp stage and set-based
INSERT / UPDATE from it. Changes are reported from the Arrow side, with no round trip.
Durable: the commit waits for WAL as usual (``synchronous_commit = off`` would acknowledge
batches a crash can still lose).

Idempotent: a snapshot's key is ``(event_id, marketplace, listing_id, observed_at)`` and a
re-sent batch finds ``listings_current`` already at that observation, so it writes nothing
new and reports the same changes again (``prev_total_cents`` / ``first_seen`` /
``last_changed`` let a retry reproduce them), which keeps alerting exactly-once downstream.

Modules: ``snapshots`` (``write_snapshots``, step by step), ``classify`` (pure Arrow: dedupe,
validation, status per row, changes, missing listings), ``state`` (current state: read or
cached per connection), ``stage`` (the temp stage, COPY and set-based SQL), ``gone`` (gone
marking, complete-crawl records), ``side_tables`` (price stats, parser rejects), ``result``
(what a write reports) and ``_sql`` (every statement's text).
"""

from __future__ import annotations

from storage.events import upsert_events
from storage.ingest.gone import mark_gone, mark_gone_recorded
from storage.ingest.result import CHANGE_SCHEMA, GONE_SCHEMA, IngestResult
from storage.ingest.side_tables import write_price_stats, write_rejects
from storage.ingest.snapshots import write_snapshots

__all__ = [
    "CHANGE_SCHEMA",
    "GONE_SCHEMA",
    "IngestResult",
    "mark_gone",
    "mark_gone_recorded",
    "upsert_events",
    "write_price_stats",
    "write_rejects",
    "write_snapshots",
]
