"""The current state of a batch's listings (``STATE_SCHEMA``): read from the database, or
taken from the writer connection's cache of what it committed itself.

A connection keeps the state it committed for its events (``StateCache``) and reuses it
instead of reading while the events' versions (``ingest_versions``, bumped by every state
writer) show nobody else wrote them since; a miss, another writer or a rollback means
reading the database again. ``next_state`` computes, in Arrow, what a batch's writes made
of that state, so the cache never needs a second read.
"""

from __future__ import annotations

import dataclasses
import io
import weakref
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from storage.ingest import _sql
from storage.ingest.classify import CHANGED, KEEP, NEW, STATE_SCHEMA, TOUCH, Classified, key
from storage.records import TS

if TYPE_CHECKING:
    from collections.abc import Sequence

    import psycopg

_CACHE_ROWS = 2_000_000  # ~200 MB of Arrow per writer connection at most

#: Read with the state but never cached: each listing's stored score, so that re-scoring
#: an unchanged listing goes to the database only when its score visibly moved
#: (``storage.scores.moved``). A cached row has none (``scores_read`` null): the cache
#: cannot know what the deal scorer wrote since, so such a row's score is always sent.
STORED_SCORES = pa.schema([
    ("fair_value_cents", pa.int64()), ("deal_score", pa.float32()),
    ("model_version", pa.string()), ("reason_tail", pa.string()), ("scores_read", pa.bool_()),
])
_READ_SCHEMA = pa.schema([*STATE_SCHEMA, *STORED_SCORES])


@dataclasses.dataclass(slots=True)
class StateCache:
    """One connection's state of the events it last wrote, as of the versions it wrote.

    Trusted for an event only while that event's version is still the one this connection
    committed (any other writer bumps it), so it never hides another writer's changes.

    Each commit's state is kept as it was put, and each event points at the put that holds
    its rows; a put is let go once none of its events points at it. So putting and taking
    cost what one batch holds, never the whole cache (filtering and copying one table of
    every cached event on each write took 9 % of an ingest writer's time in
    ``bench.pipeline``, where the cache never hits: each event there is sold on three
    marketplaces, and each marketplace's write bumps the event's version).
    """

    # event -> (version, the marketplaces whose listings of it are held, the put holding them)
    versions: dict[int, tuple[int, frozenset[str], int]] = dataclasses.field(
        default_factory=dict)
    puts: dict[int, pa.Table] = dataclasses.field(default_factory=dict)
    refs: dict[int, int] = dataclasses.field(default_factory=dict)  # put -> events held in it
    rows: int = 0  # rows of the puts still held (their superseded events' rows included)
    _next: int = 0

    def drop(self, events: Sequence[int]) -> None:
        for e in events:
            held = self.versions.pop(e, None)
            if held is None:
                continue
            put = held[2]
            self.refs[put] -= 1
            if not self.refs[put]:
                del self.refs[put]
                self.rows -= self.puts.pop(put).num_rows

    def take(self, events: Sequence[int], marketplaces: pa.Array) -> pa.Table:
        by_put: dict[int, list[int]] = {}
        for e in events:
            held = self.versions.get(e)
            if held is not None:
                by_put.setdefault(held[2], []).append(e)
        parts = []
        for put, ids in by_put.items():
            table = self.puts[put]
            parts.append(table.filter(pc.and_(
                pc.is_in(table["event_id"], value_set=pa.array(ids, pa.int64())),
                pc.is_in(table["marketplace"], value_set=marketplaces))))
        if not parts:
            return STATE_SCHEMA.empty_table()
        return pa.concat_tables(parts).combine_chunks() if len(parts) > 1 else parts[0]

    def valid(self, event: int, version: int, marketplaces: frozenset[str]) -> bool:
        """Whether our copy is current: nobody wrote the event since our last commit."""
        have = self.versions.get(event)
        return have is not None and have[0] == version - 1 and marketplaces <= have[1]

    def put(self, versions: dict[int, int], marketplaces: frozenset[str],
            state: pa.Table) -> None:
        if self.rows > _CACHE_ROWS:  # a writer of many events: start afresh
            self.versions.clear()
            self.puts.clear()
            self.refs.clear()
            self.rows = 0
        self.drop(list(versions))
        if not versions:
            return
        put, self._next = self._next, self._next + 1
        self.puts[put] = state.select(STATE_SCHEMA.names)
        self.refs[put] = len(versions)
        self.rows += state.num_rows
        for e, v in versions.items():
            self.versions[e] = (v, marketplaces, put)


_CACHES: weakref.WeakKeyDictionary[psycopg.Connection, StateCache] = \
    weakref.WeakKeyDictionary()


def cache_for(conn: psycopg.Connection) -> StateCache:
    """The state cache of this connection (created on first use, gone with it)."""
    cache = _CACHES.get(conn)
    if cache is None:
        cache = _CACHES[conn] = StateCache()
    return cache


def current_state(cur: psycopg.Cursor, cache: StateCache, versions: dict[int, int],
                  marketplaces: pa.Array) -> pa.Table:
    """The state of the listings of these events (``versions``: each one's version after
    this transaction's bump) on these marketplaces: cached where nobody else wrote the event
    since our last commit, read otherwise (then with ``STORED_SCORES``). The events leave
    the cache until the caller puts them back after its commit."""
    covered = frozenset(marketplaces.to_pylist())
    events = sorted(versions)
    valid = [e for e in events if cache.valid(e, versions[e], covered)]
    invalid = [e for e in events if not cache.valid(e, versions[e], covered)]
    state = cache.take(valid, marketplaces) if valid else STATE_SCHEMA.empty_table()
    cache.drop(events)  # until this transaction commits
    if invalid:
        read = read_event_state(cur, invalid, marketplaces.to_pylist())
        state = pa.concat_tables([state, read], promote_options="default") if valid else read
    return state


def read_event_state(cur: psycopg.Cursor, events: list[int],
                     marketplaces: list[str]) -> pa.Table:
    """The state of every listing of ``events`` on ``marketplaces``, from the database,
    with their ``STORED_SCORES``."""
    return _read_state(cur, _sql.STATE_BY_EVENT, (events, marketplaces))


def read_key_state(cur: psycopg.Cursor, marketplaces: list[str],
                   listing_ids: list[str]) -> pa.Table:
    """The state of these listings (pairwise keys), wherever their events are, with their
    ``STORED_SCORES``."""
    return _read_state(cur, _sql.STATE_BY_KEY, (marketplaces, listing_ids))


def _read_state(cur: psycopg.Cursor, statement: str, params: Sequence[object]) -> pa.Table:
    row = cur.execute(statement, params).fetchone()
    text = row[0] if row else None
    return _read_csv(text.encode() + b"\n" if text else b"", _READ_SCHEMA)


def _read_csv(data: bytes, schema: pa.Schema) -> pa.Table:
    """Parse PostgreSQL CSV text (timestamps in ISO format, any offset).

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


def next_state(rows: pa.Table, event_id: pa.ChunkedArray, c: Classified, state: pa.Table,
               state_keys: pa.Array, gone: pa.Table, seen_at: np.ndarray | None) -> pa.Table:
    """The state of the batch's events after this batch's writes (what the SQL did).

    ``seen_at``: for a complete crawl, each row's new ``source_event_crawls`` time, which
    moves the last sighting of the listings it finds unchanged (``KEEP``).
    """
    status, pos = c.status, c.pos
    state = state.select(STATE_SCHEMA.names)
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
        marked = pc.is_in(state_keys, value_set=key(gone))
        rest = rest.set_column(rest.schema.get_field_index("gone"), "gone",
                               pc.or_(rest["gone"], marked))
    return pa.concat_tables([rest.filter(pa.array(~replaced)), fresh])
