"""Merging two stored events into one, and splitting a wrong merge apart again.

A merge moves everything of the other event to the survivor in one transaction: sources,
listings, snapshots, price stats, rollups, get-in history, refresh requests and alert
matches; forecasts, alert state and the search summary are recomputed; watchlists and alert
rules move so that nobody's entry or rule is lost or duplicated (a watcher of both keeps
one entry, rules on the dropped entry follow it; a user's identical rules become one). The
old id then redirects to the survivor (``resolve_event_id``), and what moved is recorded so
that ``split_event`` can undo it: splitting the merged sources off again revives the old id
with its watchers and rules.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from storage.errors import Conflict, NotFound
from storage.events import _merge_sql as q
from storage.events.upsert import IDENTITY_LOCK

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

_VOLATILE = ["id", "event_id", "watchlist_id", "created_at", "updated_at", "last_fired_at"]


def resolve_event_id(conn: psycopg.Connection, event_id: int) -> int | None:
    """Where a merged-away id now lives (the end of its redirect chain); None when
    ``event_id`` was never merged."""
    if conn.execute(q.REDIRECT, (event_id,)).fetchone() is None:
        return None
    row = conn.execute(q.RESOLVE, {"id": event_id}).fetchone()
    return int(row[0]) if row else None


async def resolve_event_id_async(conn: Any, event_id: int) -> int | None:
    """``resolve_event_id`` for the API's async connections."""
    cur = await conn.execute(q.REDIRECT, (event_id,))
    if await cur.fetchone() is None:
        return None
    cur = await conn.execute(q.RESOLVE, {"id": event_id})
    row = await cur.fetchone()
    return int(row[0]) if row else None


def _lock(conn: psycopg.Connection, ids: Sequence[int]) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (IDENTITY_LOCK,))
    found = {r[0] for r in conn.execute(q.LOCK_EVENTS, {"ids": list(ids)})}
    for i in ids:
        if i not in found:
            target = resolve_event_id(conn, i)
            hint = f" (merged into {target})" if target else ""
            raise NotFound(f"event {i} does not exist{hint}")


def merge_into(conn: psycopg.Connection, survivor: int, other: int, *, by: str = "matcher",
               reason: str = "") -> dict[str, Any]:
    """Merge ``other`` into ``survivor`` (inside the caller's transaction, if any).

    Returns what moved (also kept on the redirect, for a split to undo it).
    """
    if survivor == other:
        raise Conflict(f"event {survivor} cannot be merged into itself")
    with conn.transaction():
        _lock(conn, sorted((survivor, other)))
        ids = {"s": survivor, "o": other}
        sources = [list(r) for r in conn.execute(q.MOVE_SOURCES, ids)]
        counts: dict[str, int] = {}
        for stmt in q.MOVE_PLAIN:
            counts[stmt.split()[1]] = conn.execute(stmt, ids).rowcount
        for table, key in q.MOVE_KEYED:
            on = " AND ".join(f"s.{k.strip()} = o.{k.strip()}" for k in key.split(","))
            counts[table] = conn.execute(
                f"UPDATE {table} o SET event_id = %(s)s WHERE o.event_id = %(o)s AND NOT EXISTS "
                f"(SELECT 1 FROM {table} s WHERE s.event_id = %(s)s AND {on})", ids).rowcount
            conn.execute(f"DELETE FROM {table} WHERE event_id = %(o)s", ids)
        for stmt in q.RECOMPUTED:
            conn.execute(stmt, ids)
        conn.execute(q.BUMP_VERSION, ids)
        conn.execute(q.DROP_VERSION, ids)
        dropped_watches = []
        for wid, user, note, keep in conn.execute(q.DUP_WATCHES, ids).fetchall():
            rules = [r[0] for r in conn.execute(q.REPOINT_RULES, {"keep": keep, "drop": wid})]
            conn.execute(q.DROP_WATCH, (wid,))
            dropped_watches.append({"id": wid, "user_id": user, "note": note, "rules": rules})
        watches = [r[0] for r in conn.execute(q.MOVE_WATCHES, ids)]
        rules = [r[0] for r in conn.execute(q.MOVE_RULES, ids)]
        dropped_rules = []
        for rid, row in conn.execute(q.DUP_RULES, {**ids, "volatile": _VOLATILE}).fetchall():
            if rid in rules:  # only the moved copy goes; the survivor's own rules stay
                conn.execute(q.DROP_RULE, (rid,))
                dropped_rules.append(row)
        conn.execute(q.FILL_SURVIVOR, ids)
        moved = {"sources": sources, "watchlists": watches, "rules": rules,
                 "watchlists_dropped": dropped_watches, "rules_dropped": dropped_rules,
                 "counts": counts}
        conn.execute(q.FLATTEN, ids)
        conn.execute(q.ADD_REDIRECT, {**ids, "moved": Jsonb(moved)})
        for mk, sid in sources:
            conn.execute(q.DECISION, (mk, sid, survivor, other, "merged",
                                      reason or f"event {other} merged into {survivor}", by))
        conn.execute(q.DROP_EVENT, ids)
        conn.execute(q.SUMMARY, ([survivor],))
    logger.info("event %(o)s merged into %(s)s by %(by)s: %(n)s sources, %(w)s watchlist "
                "entries, %(r)s rules", {"o": other, "s": survivor, "by": by,
                                         "n": len(sources), "w": len(watches), "r": len(rules)})
    return moved


def split_event(conn: psycopg.Connection, event_id: int, sources: Sequence[tuple[str, str]],
                *, by: str = "operator", reason: str = "") -> int:
    """Move ``sources`` of ``event_id`` (with their listings, snapshots and price stats) to
    an event of their own; returns its id. When they are exactly what a merge brought in,
    the merged-away id is revived with the watchlist entries and rules the merge moved."""
    wanted = {(m, s) for m, s in sources}
    with conn.transaction():
        _lock(conn, [event_id])
        have = {(m, s): name for m, s, name in conn.execute(q.SOURCES_OF, (event_id,))}
        missing = wanted - have.keys()
        if missing:
            raise NotFound(f"event {event_id} has no source {sorted(missing)[0][0]}:"
                           f"{sorted(missing)[0][1]}")
        if not wanted or wanted == have.keys():
            raise Conflict(f"a split must leave event {event_id} at least one source and take "
                           "at least one")
        revive = next(((old, moved) for old, moved in conn.execute(q.REDIRECTS_TO, (event_id,))
                       if {tuple(s) for s in moved.get("sources", [])} == wanted), None)
        name = have[sorted(wanted)[0]] or f"event {event_id} (split)"
        if revive:
            new_id = revive[0]
            conn.execute(q.REVIVE_EVENT, {"s": event_id, "name": name, "id": new_id})
        else:
            row = conn.execute(q.NEW_EVENT, {"s": event_id, "name": name}).fetchone()
            assert row is not None
            new_id = int(row[0])
        ids = {"s": event_id, "o": new_id, "mks": [m for m, _ in sorted(wanted)],
               "sids": [s for _, s in sorted(wanted)]}
        conn.execute(q.SPLIT_SOURCES, ids)
        for stmt in q.SPLIT_BY_SOURCE:
            conn.execute(stmt, ids)
        conn.execute(q.SPLIT_ROLLUPS, ids)
        if revive:
            moved = revive[1]
            conn.execute(q.UNMOVE_WATCHES, {**ids, "ids": moved.get("watchlists", [])})
            conn.execute(q.UNMOVE_RULES, {**ids, "ids": moved.get("rules", [])})
            for w in moved.get("watchlists_dropped", []):
                conn.execute(q.RESTORE_WATCH, {"id": w["id"], "user": w["user_id"],
                                               "o": new_id, "note": w["note"]})
                conn.execute(q.REPOINT_BACK, {"w": w["id"], "ids": w["rules"]})
            for row in moved.get("rules_dropped", []):
                conn.execute(q.RESTORE_RULE, {"row": Jsonb({**row, "event_id": new_id})})
            conn.execute(q.DROP_REDIRECT, (new_id,))
        for mk, sid in sorted(wanted):
            conn.execute(q.DECISION, (mk, sid, new_id, event_id, "split",
                                      reason or f"split off event {event_id}", by))
        conn.execute(q.BUMP_VERSION, {"s": event_id, "o": event_id})
        conn.execute(q.SUMMARY, ([event_id, new_id],))
    logger.info("event %(s)s split: %(n)s sources to event %(o)s by %(by)s",
                {"s": event_id, "n": len(wanted), "o": new_id, "by": by})
    return new_id

