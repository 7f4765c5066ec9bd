"""Reads only the dashboard needs (the REST services have no equivalent).

Search cards need, for a page of events at once, the get-in price per marketplace, the
best deal and the 24-hour trend; the event page needs price by section; the operations
page needs crawl, backlog, error and alert-latency figures. Each is one statement over the
ids of the page, so a page costs a fixed number of round trips whatever its size.
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


async def card_extras(conn: AsyncConnection[Any], event_ids: list[int]
                      ) -> dict[int, dict[str, Any]]:
    """Per event: ``prices`` (marketplace -> get-in cents), ``deal`` (best listing) and
    ``then_cents`` (get-in 24 h ago from the matcher's get-in history, else its oldest
    value of the last 24 h)."""
    out: dict[int, dict[str, Any]] = {i: {"prices": {}, "deal": None, "then_cents": None}
                                      for i in event_ids}
    if not event_ids:
        return out
    for r in await _rows(conn, """
            SELECT event_id, marketplace, min(total_cents) AS cents FROM listings_current
            WHERE event_id = ANY(%(ids)s) AND gone_at IS NULL
            GROUP BY event_id, marketplace ORDER BY event_id, marketplace""",
                         {"ids": event_ids}):
        out[r["event_id"]]["prices"][r["marketplace"]] = r["cents"]
    for r in await _rows(conn, """
            SELECT DISTINCT ON (event_id) event_id, marketplace, section, "row", quantity,
                   total_cents, deal_score, deal_reason
            FROM listings_current
            WHERE event_id = ANY(%(ids)s) AND gone_at IS NULL AND deal_score IS NOT NULL
            ORDER BY event_id, deal_score DESC, total_cents""", {"ids": event_ids}):
        out[r["event_id"]]["deal"] = r
    for r in await _rows(conn, """
            SELECT e.id AS event_id, coalesce(
                (SELECT h.get_in_cents FROM alert_get_in_history h WHERE h.event_id = e.id
                   AND h.observed_at <= now() - interval '24 hours'
                 ORDER BY h.observed_at DESC LIMIT 1),
                (SELECT h.get_in_cents FROM alert_get_in_history h WHERE h.event_id = e.id
                   AND h.observed_at > now() - interval '24 hours'
                 ORDER BY h.observed_at LIMIT 1)) AS then_cents
            FROM unnest(%(ids)s::bigint[]) e(id)""", {"ids": event_ids}):
        out[r["event_id"]]["then_cents"] = r["then_cents"]
    return out


async def section_prices(conn: AsyncConnection[Any], event_id: int) -> list[dict[str, Any]]:
    """Cheapest all-in price, listings and tickets per section of an event (seat map)."""
    return await _rows(conn, """
        SELECT coalesce(section, '?') AS section, max(zone) AS zone,
               min(total_cents) AS min_cents, count(*) AS listings, sum(quantity) AS tickets,
               max(deal_score) AS best_score
        FROM listings_current WHERE event_id = %s AND gone_at IS NULL
        GROUP BY 1 ORDER BY 1""", (event_id,))


async def crawl_rates(conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
    """Per marketplace: snapshots stored in the last hour / 24 h, listings live, last seen."""
    return await _rows(conn, """
        SELECT c.marketplace, count(*) FILTER (WHERE c.gone_at IS NULL) AS live,
               greatest(max(c.last_seen), (SELECT max(s.complete_at) FROM source_event_crawls s
                                           WHERE s.marketplace = c.marketplace)) AS last_seen,
               (SELECT count(*) FROM listing_snapshots s WHERE s.marketplace = c.marketplace
                  AND s.observed_at > now() - interval '1 hour') AS snapshots_1h,
               (SELECT count(*) FROM listing_snapshots s WHERE s.marketplace = c.marketplace
                  AND s.observed_at > now() - interval '24 hours') AS snapshots_24h,
               (SELECT count(*) FROM quarantine q WHERE q.marketplace = c.marketplace
                  AND q.observed_at > now() - interval '24 hours') AS errors_24h,
               (SELECT max(q.reason) FROM quarantine q WHERE q.marketplace = c.marketplace
                  AND q.observed_at > now() - interval '24 hours') AS sample_error
        FROM listings_current c GROUP BY c.marketplace ORDER BY c.marketplace""", None)


async def error_reasons(conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
    """Quarantined records of the last 24 h by marketplace and reason."""
    return await _rows(conn, """
        SELECT marketplace, reason, count(*) AS n, max(observed_at) AS last_at
        FROM quarantine WHERE observed_at > now() - interval '24 hours'
        GROUP BY 1, 2 ORDER BY n DESC LIMIT 30""", None)


async def backlog(conn: AsyncConnection[Any]) -> dict[str, Any]:
    """Work waiting: refresh requests not yet done, alerts not yet sent."""
    rows = await _rows(conn, """
        SELECT
          (SELECT count(*) FROM refresh_requests WHERE claimed_at IS NULL) AS refresh_pending,
          (SELECT count(*) FROM refresh_requests WHERE status = 'running') AS refresh_running,
          (SELECT extract(epoch FROM now() - min(requested_at)) FROM refresh_requests
             WHERE claimed_at IS NULL) AS refresh_oldest_s,
          (SELECT count(*) FROM alert_outbox WHERE status IN ('pending', 'sending'))
             AS alerts_pending,
          (SELECT count(*) FROM alert_outbox WHERE status = 'failed'
             AND created_at > now() - interval '24 hours') AS alerts_failed_24h""", None)
    return rows[0]


async def alert_latency(conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
    """Seconds from the price change being observed to the alert being sent, per channel
    over the last 24 h (p50 / p95 / max)."""
    return await _rows(conn, """
        SELECT o.channel, count(*) AS sent,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY x.s) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY x.s) AS p95, max(x.s) AS max
        FROM alert_outbox o
        CROSS JOIN LATERAL (SELECT extract(epoch FROM o.sent_at - coalesce(
            (o.payload #>> '{matches,0,observed_at}')::timestamptz, o.created_at))
            AS s) x
        WHERE o.status = 'sent' AND o.sent_at > now() - interval '24 hours'
        GROUP BY o.channel ORDER BY o.channel""", None)
