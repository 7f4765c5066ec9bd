"""Reads and writes only the account and alert pages need (the REST services have no
equivalent): a user's alert history, channel states and settings, event names, opt-outs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg.rows import dict_row

if TYPE_CHECKING:
    from psycopg import AsyncConnection


async def _rows(conn: AsyncConnection[Any], sql: str, params: Any) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql, params)
    return await cur.fetchall()


async def alert_history(conn: AsyncConnection[Any], user_id: int,
                        limit: int = 50) -> list[dict[str, Any]]:
    """The user's alerts with the last delivery attempt's provider answer."""
    return await _rows(conn, """
        SELECT o.id, o.rule_id, o.channel, o.status, o.payload, o.attempts, o.created_at,
               o.sent_at, o.last_error, d.status AS delivery_status, d.error AS delivery_error
        FROM alert_outbox o
        LEFT JOIN LATERAL (SELECT status, error FROM alert_deliveries
                           WHERE outbox_id = o.id ORDER BY id DESC LIMIT 1) d ON true
        WHERE o.user_id = %s ORDER BY o.id DESC LIMIT %s""", (user_id, limit))


async def channel_states(conn: AsyncConnection[Any], user_id: int) -> dict[str, dict[str, Any]]:
    """Per channel: opted out / disabled (with the reason the dispatcher recorded)."""
    rows = await _rows(conn, """SELECT channel, opted_out, disabled_reason, last_sent_at
                                FROM alert_user_channels WHERE user_id = %s""", (user_id,))
    return {r["channel"]: r for r in rows}


async def user_settings(conn: AsyncConnection[Any], user_id: int) -> dict[str, Any]:
    rows = await _rows(conn, "SELECT timezone, daily_alert_cap FROM users WHERE id = %s",
                       (user_id,))
    return rows[0] if rows else {"timezone": None, "daily_alert_cap": None}


async def event_names(conn: AsyncConnection[Any], ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await _rows(conn, "SELECT id, name FROM events WHERE id = ANY(%s)", (ids,))
    return {r["id"]: r["name"] for r in rows}


async def set_opt_out(conn: AsyncConnection[Any], user_id: int, channel: str,
                      opted_out: bool) -> None:
    """Turn a channel off or back on for the user (the dispatcher honours it)."""
    await conn.execute(
        """INSERT INTO alert_user_channels (user_id, channel, opted_out, opted_out_at)
           VALUES (%(u)s, %(c)s, %(o)s, CASE WHEN %(o)s THEN now() END)
           ON CONFLICT (user_id, channel) DO UPDATE SET opted_out = EXCLUDED.opted_out,
               opted_out_at = EXCLUDED.opted_out_at, updated_at = now()""",
        {"u": user_id, "c": channel, "o": opted_out})
