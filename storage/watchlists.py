"""A user's watchlist entries and alert rules, and the plan limit on how many they keep.

Every statement filters on ``user_id``: another user's id yields "not found", never their
data, so ownership is enforced in SQL rather than remembered by each caller. Lists are
keyset pages by id and fetch one row more than asked, which says whether a next page exists.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from typing import TYPE_CHECKING, Any, Literal

import psycopg.errors
from psycopg import sql

from storage.db import record_row
from storage.errors import Conflict, InvalidValue, LimitReached, NotFound

if TYPE_CHECKING:
    from collections.abc import Mapping

    from psycopg import AsyncConnection

#: The tables a plan limits, per user.
Owned = Literal["watchlists", "alert_rules", "saved_searches"]


@dataclasses.dataclass(frozen=True, slots=True)
class Watchlist:
    """A watchlist entry: one event, every event of a performer, or of a venue."""

    id: int
    kind: str  # event | performer | venue
    event_id: int | None
    performer: str | None
    venue_id: int | None
    note: str | None
    created_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class AlertRule:
    """An alert rule, its fields named as the API names them."""

    id: int
    kind: str
    event_id: int | None
    watchlist_id: int | None
    performer: str | None
    venue_id: int | None
    max_price_cents: int | None
    drop_percent: float | None
    drop_cents: int | None
    window_seconds: int
    low_window_seconds: int | None
    near_percent: float | None
    drop_count: int | None
    min_deal_score: float | None
    sections: list[str] | None
    quantity: int
    marketplace: str | None
    channels: list[str]
    quiet_start: time | None
    quiet_end: time | None
    quiet_timezone: str | None
    cooldown_seconds: int
    active: bool
    #: the rule's newest match in the matcher's log, None if it never matched
    last_fired_at: datetime | None
    created_at: datetime


#: rule field (as :class:`AlertRule` names it) -> ``alert_rules`` column
RULE_COLUMNS = {"max_price_cents": "threshold_cents", "drop_percent": "drop_percent",
                "drop_cents": "drop_cents", "window_seconds": "window_seconds",
                "low_window_seconds": "low_window_seconds", "near_percent": "near_percent",
                "drop_count": "drop_count",
                "min_deal_score": "min_deal_score", "sections": "sections",
                "quantity": "min_quantity", "marketplace": "marketplace",
                "channels": "channels", "quiet_start": "quiet_start", "quiet_end": "quiet_end",
                "quiet_timezone": "quiet_timezone", "cooldown_seconds": "cooldown_seconds",
                "active": "active", "event_id": "event_id", "watchlist_id": "watchlist_id",
                "performer": "performer", "venue_id": "venue_id", "kind": "kind"}
#: what each owned table counts against: (advisory lock class, noun)
_LIMITS: dict[str, tuple[int, str]] = {"watchlists": (72011200, "watchlist entries"),
                                       "alert_rules": (72011201, "alert rules"),
                                       "saved_searches": (72011202, "saved searches")}

_WATCH_COLS = "id, kind, event_id, performer, venue_id, note, created_at"
#: Read from ``alert_rules AS r``. "Last fired" is the rule's newest match (the matcher logs
#: every match in ``alert_matches``; the old ``last_fired_at`` column is never written).
_RULE_COLS = """r.id, r.kind, r.event_id, r.watchlist_id, r.performer, r.venue_id,
    r.threshold_cents AS max_price_cents, r.drop_percent::float8 AS drop_percent,
    r.drop_cents, r.window_seconds, r.low_window_seconds,
    r.near_percent::float8 AS near_percent, r.drop_count,
    r.min_deal_score::float8 AS min_deal_score, r.sections, r.min_quantity AS quantity,
    r.marketplace, r.channels, r.quiet_start, r.quiet_end, r.quiet_timezone,
    r.cooldown_seconds, r.active,
    (SELECT max(m.matched_at) FROM alert_matches m WHERE m.rule_id = r.id) AS last_fired_at,
    r.created_at"""
_LOCK = "SELECT pg_advisory_xact_lock(%s, %s::int)"
_COUNT = {t: f"SELECT count(*) FROM {t} WHERE user_id = %s" for t in _LIMITS}
_DELETE = {t: f"DELETE FROM {t} WHERE id = %s AND user_id = %s RETURNING id" for t in _LIMITS}
_LIST_WATCHLISTS = f"""SELECT {_WATCH_COLS} FROM watchlists WHERE user_id = %s AND id > %s
ORDER BY id LIMIT %s"""
_GET_WATCHLIST = f"SELECT {_WATCH_COLS} FROM watchlists WHERE id = %s AND user_id = %s"
_INSERT_WATCHLIST = f"""
INSERT INTO watchlists (user_id, kind, event_id, performer, venue_id, note)
VALUES (%(user_id)s, %(kind)s, %(event_id)s, %(performer)s, %(venue_id)s, %(note)s)
RETURNING {_WATCH_COLS}
"""
_UPDATE_NOTE = f"""UPDATE watchlists SET note = %s WHERE id = %s AND user_id = %s
RETURNING {_WATCH_COLS}"""
_LIST_RULES = f"""SELECT {_RULE_COLS} FROM alert_rules r WHERE r.user_id = %s
AND r.id > %s ORDER BY r.id LIMIT %s"""
_GET_RULE = f"SELECT {_RULE_COLS} FROM alert_rules r WHERE r.id = %s AND r.user_id = %s"
_EXISTS = {"event_id": "SELECT 1 FROM events WHERE id = %s",
           "venue_id": "SELECT 1 FROM venues WHERE id = %s"}
_INSERT_RULE = "INSERT INTO alert_rules AS r (user_id, {cols}) VALUES (%(user_id)s, {values}) " \
    f"RETURNING {_RULE_COLS}"
#: a new rule without quiet hours of its own takes the account's (its zone left empty, so
#: the matcher uses the account's time zone)
_ACCOUNT_QUIET = {"quiet_start": "(SELECT quiet_start FROM users WHERE id = %(user_id)s)",
                  "quiet_end": "(SELECT quiet_end FROM users WHERE id = %(user_id)s)"}
_UPDATE_RULE = "UPDATE alert_rules r SET {sets}, updated_at = now() " \
    f"WHERE r.id = %(rid)s AND r.user_id = %(user_id)s RETURNING {_RULE_COLS}"
_EVENT_NAMES = "SELECT id, name FROM events WHERE id = ANY(%s)"


def _missing(table: Owned, ident: int) -> NotFound:
    what, listing = (("watchlist entry", "/api/v1/watchlists") if table == "watchlists"
                     else ("alert rule", "/api/v1/alert-rules"))
    return NotFound(f"You have no {what} with id {ident}; list yours with GET {listing}.")


def _no_such(field: str, message: str) -> InvalidValue:
    return InvalidValue(message, errors=[{"field": field, "message": "no such id"}])


async def reserve_slot(conn: AsyncConnection[Any], user_id: int, table: Owned, *, allowed: int,
                       plan: str, upgrade_url: str | None = None) -> None:
    """Inside the caller's transaction: serialise this user's creations in ``table`` and
    refuse one past ``allowed`` (:class:`LimitReached` naming the ``plan``)."""
    lock, noun = _LIMITS[table]
    await conn.execute(_LOCK, (lock, user_id % 2**31))
    cur = await conn.execute(_COUNT[table], (user_id,))
    row = await cur.fetchone()
    if (int(row[0]) if row else 0) >= allowed:
        raise LimitReached(f"The {plan} plan allows {allowed} {noun}: delete one, or "
                           "upgrade to premium.", upgrade_url=upgrade_url)


async def delete_owned(conn: AsyncConnection[Any], table: Owned, user_id: int,
                       ident: int) -> None:
    """Delete one of the user's watchlist entries (with its rules) or alert rules."""
    cur = await conn.execute(_DELETE[table], (ident, user_id))
    if await cur.fetchone() is None:
        raise _missing(table, ident)


# --- watchlists ----------------------------------------------------------------------------

async def list_watchlists(conn: AsyncConnection[Any], user_id: int, limit: int,
                          after: int | None) -> list[Watchlist]:
    """Up to ``limit`` + 1 entries with ids above ``after``."""
    cur = conn.cursor(row_factory=record_row(Watchlist))
    await cur.execute(_LIST_WATCHLISTS, (user_id, after or 0, limit + 1))
    return await cur.fetchall()


async def get_watchlist(conn: AsyncConnection[Any], user_id: int, wid: int) -> Watchlist:
    cur = conn.cursor(row_factory=record_row(Watchlist))
    await cur.execute(_GET_WATCHLIST, (wid, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing("watchlists", wid)
    return row


async def create_watchlist(conn: AsyncConnection[Any], user_id: int, *, kind: str,
                           event_id: int | None = None, performer: str | None = None,
                           venue_id: int | None = None, note: str | None = None) -> Watchlist:
    """A new entry; :class:`Conflict` if the user already watches it, :class:`InvalidValue`
    if the event or venue does not exist."""
    cur = conn.cursor(row_factory=record_row(Watchlist))
    try:
        await cur.execute(_INSERT_WATCHLIST, {
            "user_id": user_id, "kind": kind, "event_id": event_id, "performer": performer,
            "venue_id": venue_id, "note": note})
    except psycopg.errors.UniqueViolation:
        raise Conflict("You already watch this; see GET /api/v1/watchlists.") from None
    except psycopg.errors.ForeignKeyViolation:
        what = "event_id" if kind == "event" else "venue_id"
        raise _no_such(what, f"{what} does not exist: take ids from GET /api/v1/events."
                       ) from None
    row = await cur.fetchone()
    assert row is not None
    return row


async def update_watchlist_note(conn: AsyncConnection[Any], user_id: int, wid: int,
                                note: str | None) -> Watchlist:
    cur = conn.cursor(row_factory=record_row(Watchlist))
    await cur.execute(_UPDATE_NOTE, (note, wid, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing("watchlists", wid)
    return row


async def event_names(conn: AsyncConnection[Any], ids: list[int]) -> dict[int, str]:
    """The names of the events a user's entries and rules point at."""
    if not ids:
        return {}
    cur = await conn.execute(_EVENT_NAMES, (ids,))
    return {r[0]: r[1] for r in await cur.fetchall()}


# --- alert rules ---------------------------------------------------------------------------

async def list_rules(conn: AsyncConnection[Any], user_id: int, limit: int,
                     after: int | None) -> list[AlertRule]:
    """Up to ``limit`` + 1 rules with ids above ``after``."""
    cur = conn.cursor(row_factory=record_row(AlertRule))
    await cur.execute(_LIST_RULES, (user_id, after or 0, limit + 1))
    return await cur.fetchall()


async def get_rule(conn: AsyncConnection[Any], user_id: int, rid: int) -> AlertRule:
    cur = conn.cursor(row_factory=record_row(AlertRule))
    await cur.execute(_GET_RULE, (rid, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing("alert_rules", rid)
    return row


async def check_rule_targets(conn: AsyncConnection[Any], user_id: int,
                             fields: Mapping[str, Any]) -> None:
    """The rule's event / venue exist and its watchlist entry is the user's."""
    if fields.get("watchlist_id") is not None:
        await get_watchlist(conn, user_id, fields["watchlist_id"])
    for field, query in _EXISTS.items():
        if fields.get(field) is not None:
            cur = await conn.execute(query, (fields[field],))
            if await cur.fetchone() is None:
                raise _no_such(field, f"{field} {fields[field]} does not exist")


async def create_rule(conn: AsyncConnection[Any], user_id: int,
                      fields: Mapping[str, Any]) -> AlertRule:
    """Insert a rule from ``fields`` (named as :class:`AlertRule` names them); without quiet
    hours of its own it takes the account's."""
    cols = [sql.Identifier(RULE_COLUMNS[k]) for k in fields]
    values: list[sql.Composable] = [sql.Placeholder(k) for k in fields]
    if "quiet_start" not in fields and "quiet_end" not in fields:
        cols += [sql.Identifier(c) for c in _ACCOUNT_QUIET]
        values += [sql.SQL(v) for v in _ACCOUNT_QUIET.values()]
    query = sql.SQL(_INSERT_RULE).format(cols=sql.SQL(", ").join(cols),
                                         values=sql.SQL(", ").join(values))
    cur = conn.cursor(row_factory=record_row(AlertRule))
    await cur.execute(query, {"user_id": user_id, **fields})
    row = await cur.fetchone()
    assert row is not None
    return row


async def update_rule(conn: AsyncConnection[Any], user_id: int, rid: int,
                      fields: Mapping[str, Any]) -> AlertRule:
    """Change the given fields of one of the user's rules."""
    if not fields:
        return await get_rule(conn, user_id, rid)
    sets = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(RULE_COLUMNS[k]), sql.Placeholder(k))
        for k in fields)
    cur = conn.cursor(row_factory=record_row(AlertRule))
    await cur.execute(sql.SQL(_UPDATE_RULE).format(sets=sets),
                      {**fields, "rid": rid, "user_id": user_id})
    row = await cur.fetchone()
    if row is None:
        raise _missing("alert_rules", rid)
    return row
