"""Pure Arrow work of the write path, no I/O: one row per listing (``dedupe``), why a row is
refused (``reasons``), each row's status against its listing's current state (``classify``),
what changed (``changes``) and which listings a complete crawl lacks (``missing``).

Everything is vectorised (hash lookups of keys, numpy masks): no Python loop per listing.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from storage.ingest.result import CHANGE_SCHEMA, SCORED_CHANGE_FIELD
from storage.records import LISTING_SCHEMA, TS

if TYPE_CHECKING:
    from collections.abc import Callable

# Status of a batch row (see ``classify``); upper case = a replay of the observation that made
# the listing new / changed (a retried batch: reported again, nothing written). The SQL text
# (``storage.ingest._sql``) spells the lower-case ones and ``GONE``.
NEW, CHANGED, TOUCH, KEEP, OLDER, REPLAY_NEW, REPLAY_CHANGED = "n", "c", "s", "k", "o", "N", "C"
GONE = "g"  # staged only: a listing missing from a complete crawl

#: What classification needs of a listing's current state (see ``storage.ingest.state``).
STATE_SCHEMA = pa.schema([
    ("marketplace", pa.string()), ("listing_id", pa.string()), ("event_id", pa.int64()),
    ("total_cents", pa.int64()), ("price_cents", pa.int64()), ("quantity", pa.int32()),
    ("prev_total_cents", pa.int64()), ("first_seen", TS), ("last_seen", TS),
    ("last_changed", TS), ("gone", pa.bool_()),
])

#: Listings found missing: none (a partial crawl finds none).
NOTHING_MISSING = pa.schema([("marketplace", pa.string()), ("listing_id", pa.string()),
                             ("observed_at", TS)]).empty_table()

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


def conform(batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch:
    """``batch`` as one record batch of exactly ``LISTING_SCHEMA``."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else \
            pa.RecordBatch.from_pylist([], schema=LISTING_SCHEMA)
    if batch.schema != LISTING_SCHEMA:
        batch = batch.select(LISTING_SCHEMA.names).cast(LISTING_SCHEMA)
    return batch


def key(table: pa.Table, left: str = "marketplace", right: str = "listing_id") -> pa.Array:
    """One string per row for hash lookups of a two-column key (``\\x1f`` cannot occur)."""
    return pc.binary_join_element_wise(table[left], table[right], "\x1f")


def dedupe(batch: pa.RecordBatch) -> tuple[pa.Table, pa.Array]:
    """The batch as a table, keeping only each listing's latest observation, and its keys.

    A page overlap can repeat a listing within a batch; the upsert must see each key once.
    """
    table = pa.Table.from_batches([batch])
    keys = key(table)
    if len(pc.unique(keys)) == table.num_rows:
        return table, keys
    table = table.sort_by([("marketplace", "ascending"), ("listing_id", "ascending"),
                           ("observed_at", "descending")])
    mk, lid = table.column("marketplace"), table.column("listing_id")
    first = pc.or_(pc.not_equal(mk, _shift(mk)), pc.not_equal(lid, _shift(lid)))
    table = table.filter(pc.fill_null(first, True))
    return table, key(table)


def _shift(col: pa.ChunkedArray) -> pa.Array:
    """``col`` moved down one place (first slot null): compare each row with its previous."""
    arr = col.combine_chunks()
    return pa.concat_arrays([pa.nulls(1, arr.type), arr.slice(0, len(arr) - 1)])


def reasons(table: pa.Table, event_id: pa.ChunkedArray) -> pa.ChunkedArray:
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

    def count(self, *statuses: str) -> int:
        """Rows with any of these statuses."""
        return int(np.isin(self.status, statuses).sum())


def classify(rows: pa.Table, state: pa.Table, touch_us: int | None, *,
             keys: pa.Array | None = None, state_keys: pa.Array | None = None) -> Classified:
    """Compare accepted rows with the current state of their listings (``STATE_SCHEMA``).

    Pure and vectorised: a hash lookup of each row's key in the state, then numpy masks in
    the order the statuses are decided (new, older, replays, changed, touch, keep).
    ``touch_us``: how old a last sighting must be for an unchanged listing to be touched;
    None for a complete crawl, whose ``source_event_crawls`` row vouches for them all.
    ``keys`` / ``state_keys``: ``key`` of each, when the caller has them already.
    """
    n = rows.num_rows
    pos = pc.index_in(key(rows) if keys is None else keys,
                      value_set=key(state) if state_keys is None else state_keys) \
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


def changes(rows: pa.Table, event_id: pa.ChunkedArray, c: Classified,
            deal_score: pa.ChunkedArray | pa.Array | None = None) -> pa.Table:
    """New listings and price changes (replays included: a retry reports them again);
    with ``deal_score`` (row for row, as stored) they carry it, so the alert matcher need
    not read it back from ``listings_current``."""
    keep = pa.array(np.isin(c.status, (NEW, CHANGED, REPLAY_NEW, REPLAY_CHANGED)))
    table = pa.table({
        "marketplace": rows["marketplace"], "listing_id": rows["listing_id"],
        "event_id": event_id, "section": rows["section"], "row": rows["row"],
        "quantity": rows["quantity"], "old_total_cents": c.old_total_cents,
        "total_cents": rows["total_cents"], "observed_at": rows["observed_at"],
    }, schema=CHANGE_SCHEMA)
    if deal_score is not None:
        table = table.append_column(SCORED_CHANGE_FIELD, deal_score)
    return table.filter(keep)


def missing(sources: pa.Table, state: pa.Table, state_keys: pa.Array, c: Classified,
            refused: pa.Table) -> pa.Table:
    """Listings of the crawled (event, marketplace) pairs that a complete batch lacks, with
    the time they were found missing (the pair's latest observation): ``marketplace``,
    ``listing_id``, ``observed_at``. Rows refused by validation still show their listing is
    there; a listing seen after that time is not missing.
    """
    if not state.num_rows:
        return NOTHING_MISSING
    crawled = sources.group_by(["event_id", "marketplace"], use_threads=False) \
        .aggregate([("last_at", "max")])
    both = pa.chunked_array(state["marketplace"].chunks + crawled["marketplace"].chunks,
                            pa.string())
    if len(pc.unique(both)) == 1:  # one marketplace: the event id is the whole key
        where = pc.index_in(state["event_id"], value_set=crawled["event_id"])
    else:
        def pair(t: pa.Table) -> pa.Array:
            return key(t.append_column("ev", t["event_id"].cast(pa.string())), right="ev")
        where = pc.index_in(pair(state), value_set=pair(crawled))
    at = pc.take(crawled["last_at_max"], where)
    seen = np.zeros(state.num_rows, bool)
    seen[c.pos[c.pos >= 0]] = True
    if refused.num_rows:
        seen |= pc.is_in(state_keys, value_set=key(refused)).to_numpy(zero_copy_only=False)
    cand = pc.and_(pc.and_(pa.array(~seen), pc.invert(state["gone"])),
                   pc.less(state["last_seen"], at))  # null (another pair's) = not missing
    return pa.table({"marketplace": state["marketplace"], "listing_id": state["listing_id"],
                     "observed_at": at}).filter(cand)
