"""The caller's own watchlists, alert rules and alert history (always scoped by user_id).

Every statement filters on ``user_id``: another user's id yields "not found", never their
data, so ownership is enforced in SQL rather than remembered by each handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg.errors
from psycopg.rows import dict_row

from api.lib.errors import Conflict, InvalidInput, NotFound, PlanLimit
from api.plans import UPGRADE_PATH

if TYPE_CHECKING:
    from psycopg import AsyncConnection

WATCH_COLS = "id, kind, event_id, performer, venue_id, note, created_at"
#: Read from ``alert_rules AS r``. "Last fired" is the rule's newest match (the matcher logs
#: every match in ``alert_matches``; the old ``last_fired_at`` column is never written).
RULE_COLS = """r.id, r.kind, r.event_id, r.watchlist_id, r.performer, r.venue_id,
    r.threshold_cents AS max_price_cents, r.drop_percent::float8 AS drop_percent,
    r.drop_cents, r.window_seconds,
    r.min_deal_score::float8 AS min_deal_score, r.sections, r.min_quantity AS quantity,
    r.marketplace, r.channels, r.quiet_start, r.quiet_end, r.quiet_timezone,
    r.cooldown_seconds, r.active,
    (SELECT max(m.matched_at) FROM alert_matches m WHERE m.rule_id = r.id) AS last_fired_at,
    r.created_at"""
#: API field -> alert_rules column
RULE_FIELDS = {"max_price_cents": "threshold_cents", "drop_percent": "drop_percent",
               "drop_cents": "drop_cents", "window_seconds": "window_seconds",
               "min_deal_score": "min_deal_score", "sections": "sections",
               "quantity": "min_quantity", "marketplace": "marketplace", "channels": "channels",
               "quiet_start": "quiet_start", "quiet_end": "quiet_end",
               "quiet_timezone": "quiet_timezone", "cooldown_seconds": "cooldown_seconds",
               "active": "active", "event_id": "event_id", "watchlist_id": "watchlist_id",
               "performer": "performer", "venue_id": "venue_id", "kind": "kind"}


def _missing(what: str, ident: int, listing: str) -> NotFound:
    return NotFound(f"You have no {what} with id {ident}; list yours with GET {listing}.")


async def count_owned(conn: AsyncConnection[Any], table: str, user_id: int) -> int:
    assert table in ("watchlists", "alert_rules")
    cur = await conn.execute(f"SELECT count(*) FROM {table} WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0


#: what each owned table counts against: (advisory lock class, plan attribute, noun)
_LIMITS = {"watchlists": (72011200, "max_watchlists", "watchlist entries"),
           "alert_rules": (72011201, "max_alert_rules", "alert rules")}


async def reserve_slot(conn: AsyncConnection[Any], user: Any, table: str) -> None:
    """Inside the caller's transaction: serialise this user's creations in ``table`` and
    refuse one past the plan's limit (REST and dashboard alike)."""
    lock, attr, noun = _LIMITS[table]
    await conn.execute(f"SELECT pg_advisory_xact_lock({lock}, %s::int)",
                       (user.user_id % 2**31,))
    limit = getattr(user.plan, attr)
    if await count_owned(conn, table, user.user_id) >= limit:
        raise PlanLimit(f"The {user.plan.name} plan allows {limit} {noun}: delete one, or "
                        "upgrade to premium.", upgrade_url=UPGRADE_PATH)


async def list_watchlists(conn: AsyncConnection[Any], user_id: int, limit: int,
                          after: int | None) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"""SELECT {WATCH_COLS} FROM watchlists WHERE user_id = %s AND id > %s
                          ORDER BY id LIMIT %s""", (user_id, after or 0, limit + 1))
    return await cur.fetchall()


async def get_watchlist(conn: AsyncConnection[Any], user_id: int, wid: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {WATCH_COLS} FROM watchlists WHERE id = %s AND user_id = %s",
                      (wid, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing("watchlist entry", wid, "/api/v1/watchlists")
    return row


async def create_watchlist(conn: AsyncConnection[Any], user_id: int,
                           fields: dict[str, Any]) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    try:
        await cur.execute(
            f"""INSERT INTO watchlists (user_id, kind, event_id, performer, venue_id, note)
                VALUES (%(user_id)s, %(kind)s, %(event_id)s, %(performer)s, %(venue_id)s,
                        %(note)s) RETURNING {WATCH_COLS}""", {"user_id": user_id, **fields})
    except psycopg.errors.UniqueViolation:
        raise Conflict("You already watch this; see GET /api/v1/watchlists.") from None
    except psycopg.errors.ForeignKeyViolation:
        what = "event_id" if fields["kind"] == "event" else "venue_id"
        raise InvalidInput(f"{what} does not exist: take ids from GET /api/v1/events.",
                           errors=[{"field": what, "message": "no such id"}]) from None
    row = await cur.fetchone()
    assert row is not None
    return row


async def update_watchlist(conn: AsyncConnection[Any], user_id: int, wid: int,
                           note: str | None) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"""UPDATE watchlists SET note = %s WHERE id = %s AND user_id = %s
                          RETURNING {WATCH_COLS}""", (note, wid, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing("watchlist entry", wid, "/api/v1/watchlists")
    return row


async def delete_owned(conn: AsyncConnection[Any], table: str, user_id: int, ident: int) -> None:
    assert table in ("watchlists", "alert_rules")
    cur = await conn.execute(f"DELETE FROM {table} WHERE id = %s AND user_id = %s RETURNING id",
                             (ident, user_id))
    if await cur.fetchone() is None:
        what = "watchlist entry" if table == "watchlists" else "alert rule"
        path = "/api/v1/watchlists" if table == "watchlists" else "/api/v1/alert-rules"
        raise _missing(what, ident, path)


async def list_rules(conn: AsyncConnection[Any], user_id: int, limit: int,
                     after: int | None) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"""SELECT {RULE_COLS} FROM alert_rules r WHERE r.user_id = %s
                          AND r.id > %s ORDER BY r.id LIMIT %s""", (user_id, after or 0, limit + 1))
    return await cur.fetchall()


async def get_rule(conn: AsyncConnection[Any], user_id: int, rid: int) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {RULE_COLS} FROM alert_rules r WHERE r.id = %s AND r.user_id = %s",
                      (rid, user_id))
    row = await cur.fetchone()
    if row is None:
        raise _missing("alert rule", rid, "/api/v1/alert-rules")
    return row


async def check_targets(conn: AsyncConnection[Any], user_id: int,
                        fields: dict[str, Any]) -> None:
    """The rule's event / venue exist and its watchlist entry is the caller's."""
    if fields.get("watchlist_id") is not None:
        await get_watchlist(conn, user_id, fields["watchlist_id"])
    for field, table in (("event_id", "events"), ("venue_id", "venues")):
        if fields.get(field) is not None:
            cur = await conn.execute(f"SELECT 1 FROM {table} WHERE id = %s", (fields[field],))
            if await cur.fetchone() is None:
                raise InvalidInput(f"{field} {fields[field]} does not exist",
                                   errors=[{"field": field, "message": "no such id"}])


async def create_rule(conn: AsyncConnection[Any], user_id: int,
                      fields: dict[str, Any]) -> dict[str, Any]:
    """Insert a rule; without quiet hours of its own it takes the account's default (its
    zone left empty, so the matcher uses the account's time zone)."""
    cols = [RULE_FIELDS[k] for k in fields]
    values = [f"%({k})s" for k in fields]
    if "quiet_start" not in fields and "quiet_end" not in fields:
        cols += ["quiet_start", "quiet_end"]
        values += ["(SELECT quiet_start FROM users WHERE id = %(user_id)s)",
                   "(SELECT quiet_end FROM users WHERE id = %(user_id)s)"]
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"""INSERT INTO alert_rules AS r (user_id, {", ".join(cols)})
            VALUES (%(user_id)s, {", ".join(values)}) RETURNING {RULE_COLS}""",
        {"user_id": user_id, **fields})
    row = await cur.fetchone()
    assert row is not None
    return row


async def update_rule(conn: AsyncConnection[Any], user_id: int, rid: int,
                      fields: dict[str, Any]) -> dict[str, Any]:
    if not fields:
        return await get_rule(conn, user_id, rid)
    sets = ", ".join(f"{RULE_FIELDS[k]} = %({k})s" for k in fields)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"""UPDATE alert_rules r SET {sets}, updated_at = now()
            WHERE r.id = %(rid)s AND r.user_id = %(user_id)s RETURNING {RULE_COLS}""",
        {**fields, "rid": rid, "user_id": user_id})
    row = await cur.fetchone()
    if row is None:
        raise _missing("alert rule", rid, "/api/v1/alert-rules")
    return row


async def set_account_quiet_hours(conn: AsyncConnection[Any], user_id: int,
                                  start: Any, end: Any) -> int:
    """Change the account's quiet hours and, with them, every rule that follows the account
    (the old default's window and no zone of its own); rules with their own quiet hours
    keep them. Returns how many rules changed."""
    cur = await conn.execute(
        """WITH old AS (SELECT quiet_start, quiet_end FROM users WHERE id = %(u)s FOR UPDATE),
                acct AS (UPDATE users SET quiet_start = %(s)s, quiet_end = %(e)s,
                                          updated_at = now() WHERE id = %(u)s)
           UPDATE alert_rules r SET quiet_start = %(s)s, quiet_end = %(e)s,
                                    quiet_timezone = NULL, updated_at = now()
           FROM old
           WHERE r.user_id = %(u)s
             AND r.quiet_start IS NOT DISTINCT FROM old.quiet_start
             AND r.quiet_end IS NOT DISTINCT FROM old.quiet_end
             AND (r.quiet_timezone IS NULL OR r.quiet_timezone = (
                  SELECT timezone FROM users WHERE id = %(u)s))""",
        {"u": user_id, "s": start, "e": end})
    return cur.rowcount


async def list_alerts(conn: AsyncConnection[Any], user_id: int, limit: int,
                      before: int | None) -> list[dict[str, Any]]:
    """The caller's alerts, newest first."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """SELECT id, rule_id, channel, status, payload, attempts, created_at, sent_at,
                  last_error
           FROM alert_outbox WHERE user_id = %s AND id < %s ORDER BY id DESC LIMIT %s""",
        (user_id, before or 2**62, limit + 1))
    return await cur.fetchall()
