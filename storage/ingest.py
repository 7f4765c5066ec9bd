"""The write path: Arrow listing batches into snapshots + ``listings_current``, in one
transaction per batch, reporting what changed.

Throughput comes from writing less: a snapshot row is written only when a listing is new or
its price / quantity changed. An unchanged listing costs nothing in a complete crawl of its
event (``complete``): one ``source_event_crawls`` row per source event vouches for all the
listings the crawl did not mark gone (``listing_last_seen()``). In a partial crawl it only
moves ``last_seen``, at most every ``RIPCITY_LAST_SEEN_RESOLUTION_S``.
Per batch: validation in Arrow; one read of the current state of every listing of the
batch's events (an index range scan per event, not an index probe per row); classification
in Arrow/numpy (``classify``); then only the rows that change something go to the server, with
one binary COPY (``pgpq``) into a temp stage and set-based INSERT / UPDATE from it. Changes
are reported from the Arrow side, with no round trip. A writer connection keeps the state it
committed for its events (``_StateCache``) and reuses it instead of the state read while the
events' versions (``ingest_versions``, bumped by every state writer) show nobody else wrote
them since; a miss, another writer or a rollback means reading the database again.
Durable: the commit waits for WAL as usual (``synchronous_commit = off`` would acknowledge
batches a crash can still lose).

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
import weakref
from typing import TYPE_CHECKING

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from storage.copy import copy_arrow
from storage.events import upsert_events
from storage.partitions import ensure_partitions
from storage.records import LISTING_SCHEMA, TS
from storage.settings import get_storage_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
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

# Status of a batch row (see ``classify``); upper case = a replay of the observation that made
# the listing new / changed (a retried batch: reported again, nothing written).
NEW, CHANGED, TOUCH, KEEP, OLDER, REPLAY_NEW, REPLAY_CHANGED = "n", "c", "s", "k", "o", "N", "C"
GONE = "g"  # staged only: a listing missing from a complete crawl
_CODES = np.array([NEW, CHANGED, TOUCH, KEEP, OLDER, REPLAY_NEW, REPLAY_CHANGED])

# The rows to write, with their resolved event and status (for refused rows, the reason).
# Only rows that change something get here: an unchanged re-crawl never touches the server.
_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS _ripcity_stage (
    observed_at timestamptz, marketplace text COLLATE "C", listing_id text COLLATE "C",
    source_event_id text COLLATE "C",
    section text, "row" text, seats text, quantity integer, splits text,
    price_cents bigint, fees_cents bigint, total_cents bigint, currency text,
    delivery text, kind text, zone text, event_id bigint, status text
);
TRUNCATE _ripcity_stage;
"""
_STAGE_COLS = f"{_QCOLS}, event_id, status"

# Why a row is refused, first matching reason wins (``import`` uses the same words).
_REASONS: tuple[tuple[str, Callable[[pa.Table, pa.ChunkedArray], pa.ChunkedArray]], ...] = (
    ("unknown event", lambda t, ev: pc.is_null(ev)),
    ("null price", lambda t, ev: pc.is_null(t["price_cents"])),
    ("null total", lambda t, ev: pc.is_null(t["total_cents"])),
    ("negative price", lambda t, ev: pc.less(t["price_cents"], 0)),
    ("quantity not positive",
     lambda t, ev: pc.or_kleene(pc.is_null(t["quantity"]), pc.less_equal(t["quantity"], 0))),
    ("total below price", lambda t, ev: pc.less(t["total_cents"], t["price_cents"])),
)

# Refused rows keep the whole observation as JSON, with the reason from the status column.
_QUARANTINE = f"""
INSERT INTO quarantine (observed_at, marketplace, source, reason, raw, listing_id,
                        source_event_id)
SELECT x.observed_at, x.marketplace, 'ingest', x.status, row_to_json(s)::text, x.listing_id,
       x.source_event_id
FROM _ripcity_stage x
CROSS JOIN LATERAL (SELECT {", ".join(f'x.{c}' for c in _QCOLS.split(", "))}) s
"""

_EVENTS = """
SELECT es.marketplace, es.source_event_id, es.event_id
FROM event_sources es
JOIN unnest(%b::text[], %b::text[]) AS k (marketplace, source_event_id)
  ON es.marketplace = k.marketplace AND es.source_event_id = k.source_event_id
"""

# What classification needs of a listing's current state. Read for the batch's events (one
# index range scan per event, no probe per row); by key only when a listing moved events.
# The lateral join (``OFFSET 0`` stops the planner from flattening it) pins that plan:
# without statistics (a young table) the planner would rather scan every listing, or AND all
# of a marketplace's from the primary key into a bitmap (``marketplace || ''`` prevents it).
# Timestamps travel as ISO text, which Arrow parses exactly (``extract(epoch ...)`` is
# numeric and three times slower).
# The state of a batch's listings comes back as ONE text value of CSV lines (string_agg),
# not as COPY TO STDOUT: COPY sends a protocol message per row, and reading 100k messages
# through the driver cost more than everything else in a re-crawl. Keys are always quoted
# (so an empty id stays an empty string); the only nullable column becomes an empty field.
_STATE_LINE = """string_agg(concat_ws(',',
    '"' || replace(c.marketplace, '"', '""') || '"', '"' || replace(c.listing_id, '"', '""') || '"',
    c.event_id, c.total_cents, c.price_cents, c.quantity, coalesce(c.prev_total_cents::text, ''),
    c.first_seen, CASE WHEN c.gone_at IS NULL THEN greatest(c.last_seen, s.complete_at)
                       ELSE c.last_seen END,
    c.last_changed, CASE WHEN c.gone_at IS NULL THEN 'f' ELSE 't' END
), E'\\n')"""
# ``last_seen`` as ``listing_last_seen()`` defines it (migration 0700)
_CRAWLS = """LEFT JOIN source_event_crawls s
    ON s.marketplace = c.marketplace AND s.source_event_id = c.source_event_id"""
_STATE_BY_EVENT = f"""
SELECT {_STATE_LINE} FROM unnest(%b::bigint[]) AS e (id)
  CROSS JOIN LATERAL (SELECT * FROM listings_current
                      WHERE event_id = e.id AND marketplace || '' = ANY(%b::text[])
                      OFFSET 0) c
  {_CRAWLS}
"""
_STATE_BY_KEY = f"""
SELECT {_STATE_LINE} FROM listings_current c {_CRAWLS}
 WHERE (c.marketplace, c.listing_id) IN (SELECT * FROM unnest(%b::text[], %b::text[]))
"""
STATE_SCHEMA = pa.schema([
    ("marketplace", pa.string()), ("listing_id", pa.string()), ("event_id", pa.int64()),
    ("total_cents", pa.int64()), ("price_cents", pa.int64()), ("quantity", pa.int32()),
    ("prev_total_cents", pa.int64()), ("first_seen", TS), ("last_seen", TS),
    ("last_changed", TS), ("gone", pa.bool_()),
])

_SNAPSHOT_COLS = (
    'observed_at, event_id, marketplace, listing_id, source_event_id, section, "row", seats, '
    "quantity, splits, price_cents, fees_cents, total_cents, currency, delivery, kind, zone"
)
_INSERT_SNAPSHOTS = f"""
INSERT INTO listing_snapshots ({_SNAPSHOT_COLS})
SELECT {_SNAPSHOT_COLS} FROM _ripcity_stage WHERE status IN ('n', 'c')
"""
_CURRENT_COLS = _SNAPSHOT_COLS.removeprefix("observed_at, ")
_INSERT_NEW = f"""
INSERT INTO listings_current ({_CURRENT_COLS}, first_seen, last_seen, last_changed)
SELECT {_CURRENT_COLS}, observed_at, observed_at, observed_at
FROM _ripcity_stage WHERE status = 'n'
"""
_ON_CONFLICT = "\nON CONFLICT DO NOTHING"

# Price changes and touches in one statement (one scan of the stage, one trigger firing): a
# touch keeps every column but ``last_seen`` / ``gone_at`` (unchanged values keep it HOT).
_UPDATE_CHANGED = """
UPDATE listings_current c SET
    event_id = CASE WHEN x.status = 'c' THEN x.event_id ELSE c.event_id END,
    source_event_id = CASE WHEN x.status = 'c' THEN x.source_event_id
                           ELSE c.source_event_id END,
    section = CASE WHEN x.status = 'c' THEN x.section ELSE c.section END,
    "row" = CASE WHEN x.status = 'c' THEN x."row" ELSE c."row" END,
    seats = CASE WHEN x.status = 'c' THEN x.seats ELSE c.seats END,
    quantity = CASE WHEN x.status = 'c' THEN x.quantity ELSE c.quantity END,
    splits = CASE WHEN x.status = 'c' THEN x.splits ELSE c.splits END,
    price_cents = CASE WHEN x.status = 'c' THEN x.price_cents ELSE c.price_cents END,
    fees_cents = CASE WHEN x.status = 'c' THEN x.fees_cents ELSE c.fees_cents END,
    total_cents = CASE WHEN x.status = 'c' THEN x.total_cents ELSE c.total_cents END,
    prev_total_cents = CASE WHEN x.status = 'c' THEN c.total_cents ELSE c.prev_total_cents END,
    currency = CASE WHEN x.status = 'c' THEN x.currency ELSE c.currency END,
    delivery = CASE WHEN x.status = 'c' THEN x.delivery ELSE c.delivery END,
    kind = CASE WHEN x.status = 'c' THEN x.kind ELSE c.kind END,
    zone = CASE WHEN x.status = 'c' THEN x.zone ELSE c.zone END,
    last_seen = x.observed_at,
    last_changed = CASE WHEN x.status = 'c' THEN x.observed_at ELSE c.last_changed END,
    gone_at = NULL
FROM _ripcity_stage x
WHERE x.status IN ('c', 's') AND c.marketplace = x.marketplace AND c.listing_id = x.listing_id
"""

# Listings missing from a complete crawl, staged with its time (status 'g'); only the crawled
# source events' listings can be gone, not their siblings' (one event listed twice on a
# marketplace, crawled by another shard). A gone listing keeps when it was last seen, since
# its source event's complete crawls no longer vouch for it.
_MARK_GONE_STAGED = """
UPDATE listings_current c SET gone_at = x.observed_at, last_seen = listing_last_seen(c)
FROM _ripcity_stage x
WHERE x.status = 'g' AND c.marketplace = x.marketplace AND c.listing_id = x.listing_id
  AND c.gone_at IS NULL AND c.last_seen < x.observed_at AND c.source_event_id = ANY(%b::text[])
RETURNING c.marketplace, c.listing_id, c.event_id, c.total_cents, c.gone_at
"""

# After a complete crawl: every listing of these source events not marked gone was seen (by
# the crawl's earliest observation), in key order so concurrent writers lock alike.
_CRAWLED = """
INSERT INTO source_event_crawls AS s (marketplace, source_event_id, complete_at)
SELECT k.marketplace, k.source_event_id, timestamptz 'epoch' + k.us * interval '1 microsecond'
FROM unnest(%b::text[], %b::text[], %b::bigint[]) AS k (marketplace, source_event_id, us)
JOIN event_sources es USING (marketplace, source_event_id) ORDER BY 1, 2
ON CONFLICT (marketplace, source_event_id)
DO UPDATE SET complete_at = greatest(s.complete_at, excluded.complete_at)
"""


# Bump the versions of the events a transaction writes (migration 0600), in key order so
# writers never deadlock. It is also the per-event lock: its row locks make any other writer
# of these events wait for this transaction's end, so each classifies against the other's
# committed state.
_BUMP = """
INSERT INTO ingest_versions AS v (event_id, version)
SELECT e, 1 FROM unnest(%b::bigint[]) e ORDER BY e
ON CONFLICT (event_id) DO UPDATE SET version = v.version + 1
RETURNING v.event_id, v.version
"""
_BUMP_SOURCE = """
INSERT INTO ingest_versions AS v (event_id, version)
SELECT es.event_id, 1 FROM event_sources es
 WHERE es.marketplace = %s AND es.source_event_id = %s ORDER BY 1
ON CONFLICT (event_id) DO UPDATE SET version = v.version + 1
"""


@dataclasses.dataclass(slots=True)
class _StateCache:
    """One connection's state of the events it last wrote, as of the versions it wrote.

    Trusted for an event only while that event's version is still the one this connection
    committed (any other writer bumps it), so it never hides another writer's changes.
    """

    # event -> (version, the marketplaces whose listings of it ``state`` holds)
    versions: dict[int, tuple[int, frozenset[str]]] = dataclasses.field(default_factory=dict)
    state: pa.Table = dataclasses.field(default_factory=lambda: STATE_SCHEMA.empty_table())

    def drop(self, events: Sequence[int]) -> None:
        for e in events:
            self.versions.pop(e, None)

    def take(self, events: Sequence[int], marketplaces: pa.Array) -> pa.Table:
        keep = pc.and_(pc.is_in(self.state["event_id"], value_set=pa.array(events, pa.int64())),
                       pc.is_in(self.state["marketplace"], value_set=marketplaces))
        return self.state.filter(keep)

    def valid(self, event: int, version: int, marketplaces: frozenset[str]) -> bool:
        """Whether our copy is current: nobody wrote the event since our last commit."""
        have = self.versions.get(event)
        return have is not None and have[0] == version - 1 and marketplaces <= have[1]

    def put(self, versions: dict[int, int], marketplaces: frozenset[str],
            state: pa.Table) -> None:
        if self.state.num_rows > _CACHE_ROWS:  # a writer of many events: start afresh
            self.versions.clear()
            self.state = STATE_SCHEMA.empty_table()
        stale = pc.is_in(self.state["event_id"],
                         value_set=pa.array(list(versions), pa.int64()))
        self.state = pa.concat_tables([self.state.filter(pc.invert(stale)),
                                       state.select(STATE_SCHEMA.names)])
        if self.state["event_id"].num_chunks > 16:  # keep lookups over few, large chunks
            self.state = self.state.combine_chunks()
        self.versions.update({e: (v, marketplaces) for e, v in versions.items()})


_CACHE_ROWS = 2_000_000  # ~200 MB of Arrow per writer connection at most
_CACHES: weakref.WeakKeyDictionary[psycopg.Connection, _StateCache] = \
    weakref.WeakKeyDictionary()


def _cache(conn: psycopg.Connection) -> _StateCache:
    cache = _CACHES.get(conn)
    if cache is None:
        cache = _CACHES[conn] = _StateCache()
    return cache


def _next_state(rows: pa.Table, event_id: pa.ChunkedArray, c: Classified, state: pa.Table,
                state_keys: pa.Array, gone: pa.Table, seen_at: np.ndarray | None) -> pa.Table:
    """The state of the batch's events after this batch's writes (what the SQL did).

    ``seen_at``: for a complete crawl, each row's new ``source_event_crawls`` time, which
    moves the last sighting of the listings it finds unchanged (``KEEP``).
    """
    status, pos = c.status, c.pos
    act = np.isin(status, (NEW, CHANGED, TOUCH))
    written = rows.filter(pa.array(act))
    st = status[act]
    at = pos[act]
    cur = state.take(pa.array(np.maximum(at, 0))) if state.num_rows else None
    is_new, is_changed = st == NEW, st == CHANGED
    obs = written["observed_at"]

    def old(name: str) -> pa.Array:
        if cur is None:
            return pa.nulls(written.num_rows, STATE_SCHEMA.field(name).type)
        return cur[name].combine_chunks()

    new_mask = pa.array(is_new)
    keeps_change = pa.array(~is_new & ~is_changed)
    fresh = pa.table({
        "marketplace": written["marketplace"], "listing_id": written["listing_id"],
        "event_id": event_id.filter(pa.array(act)),
        "total_cents": written["total_cents"], "price_cents": written["price_cents"],
        "quantity": written["quantity"],
        "prev_total_cents": pc.if_else(new_mask, pa.nulls(len(st), pa.int64()),
                                       pc.if_else(pa.array(is_changed), old("total_cents"),
                                                  old("prev_total_cents"))),
        "first_seen": pc.if_else(new_mask, obs, old("first_seen")),
        "last_seen": obs,
        "last_changed": pc.if_else(keeps_change, old("last_changed"), obs),
        "gone": pa.array(np.zeros(len(st), bool)),
    }, schema=STATE_SCHEMA)
    if not state.num_rows:
        return fresh
    replaced = np.zeros(state.num_rows, bool)
    replaced[at[at >= 0]] = True
    rest = state
    if seen_at is not None:
        keep = status == KEEP
        seen = state["last_seen"].cast(pa.int64()).to_numpy().copy()
        seen[pos[keep]] = np.maximum(seen[pos[keep]], seen_at[keep])
        rest = rest.set_column(rest.schema.get_field_index("last_seen"), "last_seen",
                               pa.array(seen, pa.int64()).cast(TS))
    if gone.num_rows:
        marked = pc.is_in(state_keys, value_set=_key(gone))
        rest = rest.set_column(rest.schema.get_field_index("gone"), "gone",
                               pc.or_(rest["gone"], marked))
    return pa.concat_tables([rest.filter(pa.array(~replaced)), fresh])


def _prepare_stage(conn: psycopg.Connection) -> None:
    """Give this session's temp table room in memory before its first use (a batch of
    50k changed rows is ~10 MB; the default 8 MB of temp_buffers would spill to disk).
    """
    if conn.execute("SELECT to_regclass('pg_temp._ripcity_stage')").fetchone()[0] is None:
        with contextlib.suppress(psycopg.errors.ActiveSqlTransaction,
                                 psycopg.errors.InvalidParameterValue), conn.transaction():
            conn.execute("SET temp_buffers = '128MB'")


def _dedupe(batch: pa.RecordBatch) -> tuple[pa.Table, pa.Array]:
    """The batch as a table, keeping only each listing's latest observation, and its keys.

    A page overlap can repeat a listing within a batch; the upsert must see each key once.
    """
    table = pa.Table.from_batches([batch])
    key = _key(table)
    if len(pc.unique(key)) == table.num_rows:
        return table, key
    table = table.sort_by([("marketplace", "ascending"), ("listing_id", "ascending"),
                           ("observed_at", "descending")])
    mk, lid = table.column("marketplace"), table.column("listing_id")
    first = pc.or_(pc.not_equal(mk, _shift(mk)), pc.not_equal(lid, _shift(lid)))
    table = table.filter(pc.fill_null(first, True))
    return table, _key(table)


def _shift(col: pa.ChunkedArray) -> pa.Array:
    """``col`` moved down one place (first slot null): compare each row with its previous."""
    arr = col.combine_chunks()
    return pa.concat_arrays([pa.nulls(1, arr.type), arr.slice(0, len(arr) - 1)])


def _key(table: pa.Table, left: str = "marketplace", right: str = "listing_id") -> pa.Array:
    """One string per row for hash lookups of a two-column key (``\\x1f`` cannot occur)."""
    return pc.binary_join_element_wise(table[left], table[right], "\x1f")


def _read_csv(data: bytes, schema: pa.Schema) -> pa.Table:
    """Parse COPY ... TO STDOUT (FORMAT csv) output (timestamps in ISO format, any offset).

    Unquoted empty fields are NULL, quoted ones empty strings (PostgreSQL's CSV rules).
    """
    if not data:
        return schema.empty_table()
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=schema.names, ),
        convert_options=pacsv.ConvertOptions(
            column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False,
            true_values=["t"], false_values=["f"],
        ),
    )




def _resolve_events(cur: psycopg.Cursor, table: pa.Table) -> tuple[pa.ChunkedArray, pa.Table]:
    """Our event id for each row (null when its marketplace event is unknown), and the known
    source events of the batch: ``marketplace``, ``source_event_id``, ``event_id`` and the
    first and last time the batch observed them (``first_at``, ``last_at``).
    """
    pairs = table.select(["marketplace", "source_event_id", "observed_at"]).group_by(
        ["marketplace", "source_event_id"], use_threads=False).aggregate(
        [("observed_at", "min"), ("observed_at", "max")])
    found = cur.execute(_EVENTS, (pairs["marketplace"].to_pylist(),
                                  pairs["source_event_id"].to_pylist())).fetchall()
    known = pa.table({"marketplace": pa.array([r[0] for r in found], pa.string()),
                      "source_event_id": pa.array([r[1] for r in found], pa.string()),
                      "event_id": pa.array([r[2] for r in found], pa.int64())})
    known_key = _key(known, right="source_event_id")
    where = pc.index_in(_key(table, right="source_event_id"), value_set=known_key)
    pair_event = pc.take(known["event_id"], pc.index_in(
        _key(pairs, right="source_event_id"), value_set=known_key))
    sources = pa.table({
        "marketplace": pairs["marketplace"], "source_event_id": pairs["source_event_id"],
        "event_id": pair_event, "first_at": pairs["observed_at_min"],
        "last_at": pairs["observed_at_max"]}).filter(pc.is_valid(pair_event))
    return pc.take(known["event_id"], where), sources


def _reasons(table: pa.Table, event_id: pa.ChunkedArray) -> pa.ChunkedArray:
    """Why each row is refused (null = accepted), first matching reason wins."""
    reason = pa.nulls(table.num_rows, pa.string())
    tests = [(text, pc.fill_null(test(table, event_id), False)) for text, test in _REASONS]
    if not any(pc.any(hit).as_py() for _, hit in tests):  # the usual batch: no string work
        return reason
    for text, hit in reversed(tests):
        reason = pc.if_else(hit, text, reason)
    return reason


@dataclasses.dataclass(frozen=True, slots=True)
class Classified:
    """Each accepted row's status (``NEW`` ...) and the total it changed from."""

    status: np.ndarray  # of one-letter strings, see the status constants
    old_total_cents: pa.Array  # null for new listings
    pos: np.ndarray  # each row's listing in the state (-1: none)


def classify(rows: pa.Table, state: pa.Table, touch_us: int | None, *,
             keys: pa.Array | None = None, state_keys: pa.Array | None = None) -> Classified:
    """Compare accepted rows with the current state of their listings (``STATE_SCHEMA``).

    Pure and vectorised: a hash lookup of each row's key in the state, then numpy masks in
    the order the statuses are decided (new, older, replays, changed, touch, keep).
    ``touch_us``: how old a last sighting must be for an unchanged listing to be touched;
    None for a complete crawl, whose ``source_event_crawls`` row vouches for them all.
    ``keys`` / ``state_keys``: ``_key`` of each, when the caller has them already.
    """
    n = rows.num_rows
    pos = pc.index_in(_key(rows) if keys is None else keys,
                      value_set=_key(state) if state_keys is None else state_keys) \
        if state.num_rows else \
        pa.nulls(n, pa.int32())
    has = pc.is_valid(pos).to_numpy(zero_copy_only=False)
    cur = state.take(pc.fill_null(pos, 0)) if state.num_rows else None

    def col(table: pa.Table | None, name: str) -> np.ndarray:
        if table is None:
            return np.zeros(n, np.int64)
        arr = table[name]
        if pa.types.is_timestamp(arr.type):
            arr = arr.cast(pa.int64())
        return pc.fill_null(arr, 0).to_numpy().astype(np.int64, copy=False)

    obs = rows["observed_at"].cast(pa.int64()).to_numpy()
    first_seen, last_seen = col(cur, "first_seen"), col(cur, "last_seen")
    last_changed, prev_total = col(cur, "last_changed"), col(cur, "prev_total_cents")
    cur_total = col(cur, "total_cents")
    prev_valid = has & (pc.is_valid(cur["prev_total_cents"]).to_numpy(zero_copy_only=False)
                        if cur is not None else np.zeros(n, bool))
    gone = has & (pc.fill_null(cur["gone"], False).to_numpy(zero_copy_only=False)
                  if cur is not None else np.zeros(n, bool))
    differs = ((col(rows, "total_cents") != cur_total) | (col(rows, "price_cents")
               != col(cur, "price_cents")) | (col(rows, "quantity") != col(cur, "quantity")))
    at_change = obs == last_changed
    status = np.select(
        [~has, obs < last_seen, obs == first_seen, at_change & prev_valid, differs,
         gone | (obs - last_seen >= touch_us) if touch_us is not None else gone],
        [NEW, OLDER, REPLAY_NEW, REPLAY_CHANGED, CHANGED, TOUCH], KEEP)
    old = np.where(at_change, prev_total, cur_total)
    old_null = ~has | (at_change & ~prev_valid) | (status == REPLAY_NEW)
    return Classified(status, pa.array(old, pa.int64(), mask=old_null),
                      pc.fill_null(pos, -1).to_numpy(zero_copy_only=False).astype(np.int64))


def _read_state(cur: psycopg.Cursor, statement: str, params: Sequence[object]) -> pa.Table:
    row = cur.execute(statement, params).fetchone()
    text = row[0] if row else None
    return _read_csv(text.encode() + b"\n" if text else b"", STATE_SCHEMA)


def _write(cur: psycopg.Cursor, rows: pa.Table, event_id: pa.ChunkedArray,
           status: np.ndarray, missing: pa.Table, sources: list[str], *,
           on_conflict: bool) -> tuple[int, pa.Table]:
    """Stage the rows that change something and apply them; returns the snapshot rows
    written and the listings marked gone (of ``missing``, see ``_missing``).

    One binary COPY into the temp stage, then INSERT ... SELECT into the real tables: measured
    faster than COPY straight into them (COPY's bulk-write ring makes the backend flush WAL
    each time the ring wraps). Plain INSERTs first (classification says the rows are absent;
    no speculative insertion); ``on_conflict`` for the retry after a concurrent writer or a
    listing that moved events got there first. The stage also pins the join plans: with no
    statistics on it, the planner probes the primary key per staged row rather than hashing
    every listing.
    """
    act = np.isin(status, (NEW, CHANGED, TOUCH))
    if not act.any() and not missing.num_rows:
        return 0, GONE_SCHEMA.empty_table()
    mask = pa.array(act)
    stage = rows.filter(mask).append_column("event_id", event_id.filter(mask)) \
        .append_column("status", pa.array(status[act], pa.string()))
    if missing.num_rows:  # keys, time and status; the rest null
        n = missing.num_rows
        loose = pa.schema([f.with_nullable(True) for f in stage.schema])
        gone = pa.table({f.name: missing[f.name] if f.name in missing.column_names
                         else pa.nulls(n, f.type) for f in loose}, schema=loose)
        stage = pa.concat_tables([stage.cast(loose), gone.set_column(
            loose.get_field_index("status"), "status", pa.array([GONE] * n))])
    cur.execute(_STAGE_DDL)
    copy_arrow(cur, stage, f"_ripcity_stage ({_STAGE_COLS})")
    tail = _ON_CONFLICT if on_conflict else ""
    written = 0
    if act.any():
        written = cur.execute(_INSERT_SNAPSHOTS + tail).rowcount
        cur.execute(_INSERT_NEW + tail)
        cur.execute(_UPDATE_CHANGED)
    if not missing.num_rows:
        return written, GONE_SCHEMA.empty_table()
    marked = cur.execute(_MARK_GONE_STAGED, (sources,)).fetchall()
    return written, _table(marked, GONE_SCHEMA)


def _quarantine(cur: psycopg.Cursor, rows: pa.Table, event_id: pa.ChunkedArray,
                reason: pa.ChunkedArray) -> None:
    cur.execute(_STAGE_DDL)
    stage = rows.append_column("event_id", event_id).append_column("status", reason)
    copy_arrow(cur, stage, f"_ripcity_stage ({_STAGE_COLS})")
    cur.execute(_QUARANTINE)


def _changes(rows: pa.Table, event_id: pa.ChunkedArray, c: Classified) -> pa.Table:
    """New listings and price changes (replays included: a retry reports them again)."""
    keep = pa.array(np.isin(c.status, (NEW, CHANGED, REPLAY_NEW, REPLAY_CHANGED)))
    return pa.table({
        "marketplace": rows["marketplace"], "listing_id": rows["listing_id"],
        "event_id": event_id, "section": rows["section"], "row": rows["row"],
        "quantity": rows["quantity"], "old_total_cents": c.old_total_cents,
        "total_cents": rows["total_cents"], "observed_at": rows["observed_at"],
    }, schema=CHANGE_SCHEMA).filter(keep)


_NOTHING_MISSING = pa.schema([("marketplace", pa.string()), ("listing_id", pa.string()),
                             ("observed_at", TS)]).empty_table()


def _missing(sources: pa.Table, state: pa.Table, state_keys: pa.Array, c: Classified,
             refused: pa.Table) -> pa.Table:
    """Listings of the crawled (event, marketplace) pairs that a complete batch lacks, with
    the time they were found missing (the pair's latest observation): ``marketplace``,
    ``listing_id``, ``observed_at``. Rows refused by validation still show their listing is
    there; a listing seen after that time is not missing.
    """
    if not state.num_rows:
        return _NOTHING_MISSING
    crawled = sources.group_by(["event_id", "marketplace"], use_threads=False) \
        .aggregate([("last_at", "max")])
    both = pa.chunked_array(state["marketplace"].chunks + crawled["marketplace"].chunks,
                            pa.string())
    if len(pc.unique(both)) == 1:  # one marketplace: the event id is the whole key
        where = pc.index_in(state["event_id"], value_set=crawled["event_id"])
    else:
        def pair(t: pa.Table) -> pa.Array:
            return _key(t.append_column("ev", t["event_id"].cast(pa.string())), right="ev")
        where = pc.index_in(pair(state), value_set=pair(crawled))
    at = pc.take(crawled["last_at_max"], where)
    seen = np.zeros(state.num_rows, bool)
    seen[c.pos[c.pos >= 0]] = True
    if refused.num_rows:
        seen |= pc.is_in(state_keys, value_set=_key(refused)).to_numpy(zero_copy_only=False)
    cand = pc.and_(pc.and_(pa.array(~seen), pc.invert(state["gone"])),
                   pc.less(state["last_seen"], at))  # null (another pair's) = not missing
    return pa.table({"marketplace": state["marketplace"], "listing_id": state["listing_id"],
                     "observed_at": at}).filter(cand)


def _record_crawl(cur: psycopg.Cursor, sources: pa.Table, rows: pa.Table,
                  one_time: pa.Scalar | None) -> np.ndarray:
    """Record a complete crawl of the batch's source events (``source_event_crawls``, at each
    one's first observation in the batch); returns that time for each of ``rows``.
    ``one_time``: the batch's only observation time, if it has one (a crawl shard's).
    """
    cur.execute(_CRAWLED, (sources["marketplace"].to_pylist(),
                           sources["source_event_id"].to_pylist(),
                           sources["first_at"].cast(pa.int64()).to_pylist()))
    if one_time is not None:  # no lookup per row
        return np.full(rows.num_rows, one_time.cast(pa.int64()).as_py())
    where = pc.index_in(_key(rows, right="source_event_id"),
                        value_set=_key(sources, right="source_event_id"))
    return pc.take(sources["first_at"], where).cast(pa.int64()).to_numpy(
        zero_copy_only=False)


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
        touch_interval_s = get_storage_settings().last_seen_resolution_s
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else \
            pa.RecordBatch.from_pylist([], schema=LISTING_SCHEMA)
    if batch.schema != LISTING_SCHEMA:
        batch = batch.select(LISTING_SCHEMA.names).cast(LISTING_SCHEMA)
    result = IngestResult()
    if batch.num_rows == 0:
        return result
    table, key = _dedupe(batch)
    lo, hi = pc.min_max(table.column("observed_at")).values()
    cache = _cache(conn)
    # only our own transaction's commit makes what we wrote the committed state
    cacheable = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction(), conn.cursor() as cur:
        ensure_partitions(conn, lo.as_py(), hi.as_py())
        _prepare_stage(conn)
        event_id, sources = _resolve_events(cur, table)
        reason = _reasons(table, event_id)
        bad = pc.is_valid(reason)
        result.quarantined = pc.sum(bad).as_py() or 0
        if result.quarantined:
            _quarantine(cur, table.filter(bad), event_id.filter(bad), reason.filter(bad))
        events = sorted(pc.unique(pc.drop_null(event_id)).to_pylist())
        versions = dict(cur.execute(_BUMP, (events,)).fetchall())
        marketplaces = pc.unique(table["marketplace"])
        covered = frozenset(marketplaces.to_pylist())
        valid = [e for e in events if cache.valid(e, versions[e], covered)]
        invalid = [e for e in events if not cache.valid(e, versions[e], covered)]
        cache.drop(events)  # until this transaction commits
        state = cache.take(valid, marketplaces) if valid else STATE_SCHEMA.empty_table()
        if invalid:
            read = _read_state(cur, _STATE_BY_EVENT, (invalid, marketplaces.to_pylist()))
            state = pa.concat_tables([state, read]) if valid else read
        rows, row_event, keys = table, event_id, key
        if result.quarantined:
            good = pc.invert(bad)
            rows, row_event, keys = table.filter(good), event_id.filter(good), key.filter(good)
        state_keys = _key(state)
        touch_us = None if complete else round(touch_interval_s * 1_000_000)
        c = classify(rows, state, touch_us, keys=keys, state_keys=state_keys)
        missing = _missing(sources, state, state_keys, c, table.filter(bad)) if complete \
            else _NOTHING_MISSING
        crawled = sources["source_event_id"].to_pylist()
        try:
            with conn.transaction():
                result.inserted, result.gone = _write(cur, rows, row_event, c.status, missing,
                                                      crawled, on_conflict=False)
        except psycopg.errors.UniqueViolation:
            logger.info("listings moved events or a concurrent writer inserted them: "
                        "classifying again by key")
            keyed = _read_state(cur, _STATE_BY_KEY, (rows["marketplace"].to_pylist(),
                                                     rows["listing_id"].to_pylist()))
            c = classify(rows, keyed, touch_us)
            moved = sorted(set(keyed["event_id"].to_pylist()) - set(events))
            if moved:  # listings leave other events: their cached states are stale
                cur.execute(_BUMP, (moved,))
            cacheable = False
            result.inserted, result.gone = _write(cur, rows, row_event, c.status, missing,
                                                  crawled, on_conflict=True)
        seen_at = _record_crawl(cur, sources, rows, lo if lo == hi else None) \
            if complete else None
        if cacheable:
            after = _next_state(rows, row_event, c, state, state_keys, result.gone, seen_at)
    if cacheable:  # committed: the state we wrote is the events' state at these versions
        cache.put(versions, covered, after)
    counts = dict(zip(*np.unique(c.status, return_counts=True), strict=True))
    result.unchanged = int(counts.get(TOUCH, 0) + counts.get(KEEP, 0))
    result.stale = int(counts.get(OLDER, 0))
    changes = _changes(rows, row_event, c)
    is_new = pc.is_null(changes.column("old_total_cents"))
    result.new_listings = changes.filter(is_new)
    result.price_changes = changes.filter(pc.invert(is_new))
    return result


_MARK_GONE = """
UPDATE listings_current c SET gone_at = %(at)s, last_seen = listing_last_seen(c)
FROM event_sources es
WHERE es.marketplace = %(mk)s AND es.source_event_id = %(ev)s
  AND c.event_id = es.event_id AND c.marketplace = es.marketplace
  AND c.source_event_id = es.source_event_id
  AND c.gone_at IS NULL AND listing_last_seen(c) < %(at)s
  AND NOT (c.listing_id = ANY(%(seen)s))
RETURNING c.marketplace, c.listing_id, c.event_id, c.total_cents, c.gone_at
"""


def _table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Fetched rows as a table of ``schema`` (its columns in the rows' order)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)],
                    schema=schema)


def _micros(at: datetime) -> int:
    return pa.scalar(at, TS).cast(pa.int64()).as_py()


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
    with conn.transaction():
        conn.execute(_BUMP_SOURCE, (marketplace, source_event_id))
        rows = conn.execute(
            _MARK_GONE,
            {"at": observed_at, "mk": marketplace, "ev": source_event_id,
             "seen": list(seen_listing_ids)},
        ).fetchall()
        conn.execute(_CRAWLED, ([marketplace], [source_event_id], [_micros(observed_at)]))
    return _table(rows, GONE_SCHEMA)


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
