"""SQL text of the event reads (no I/O): statements, and the search built from a filter."""

from __future__ import annotations

from typing import Any

from storage.events.filters import EventFilter, event_conditions

#: sort name -> (key expression over the candidate row, SQL type of the key)
SORTS = {
    "date": ("coalesce(starts_at, 'infinity'::timestamptz)", "timestamptz"),
    "price": ("coalesce(get_in_cents, 9223372036854775807)", "bigint"),
    "deal": ("-coalesce(best_deal_score, -1000000)::float8", "float8"),
}


def search(f: EventFilter, sort: str, limit: int,
           after: list[Any] | None) -> tuple[str, dict[str, Any]]:
    """One page of events (``limit + 1`` rows, to tell whether there is a next page)."""
    params: dict[str, Any] = {"limit": limit + 1}
    where = event_conditions(f, params)
    mk_cond = "AND c.marketplace = %(mk)s" if f.marketplace else ""
    key, key_type = SORTS[sort]
    outer: list[str] = []
    if f.min_price is not None:
        params["min_price"] = f.min_price
        outer.append("get_in_cents >= %(min_price)s")
    if f.max_price is not None:
        params["max_price"] = f.max_price
        outer.append("get_in_cents <= %(max_price)s")
    if after is not None:
        params["c_key"], params["c_id"] = after
        outer.append(f"(sort_key, id) > (%(c_key)s::{key_type}, %(c_id)s::bigint)")
    if f.marketplace:  # get-in price on that marketplace: aggregate its live listings
        prices = f"""LEFT JOIN LATERAL (
                SELECT min(c.total_cents) AS get_in_cents, count(*) AS listing_count,
                       max(c.deal_score) AS best_deal_score
                FROM listings_current c
                WHERE c.event_id = e.id AND c.gone_at IS NULL {mk_cond}) p ON true"""
    else:  # all marketplaces: the summary the ingest listener keeps current
        prices = "LEFT JOIN api_event_summary p ON p.event_id = e.id"
    query = f"""
        WITH cand AS (
            SELECT e.id, e.name, e.starts_at, e.category, e.performers, e.status,
                   e.venue_id, v.name AS venue_name, v.city AS venue_city,
                   v.timezone AS venue_timezone,
                   p.get_in_cents, coalesce(p.listing_count, 0) AS listing_count,
                   p.best_deal_score, coalesce(m.marketplaces, '{{}}') AS marketplaces
            FROM events e
            LEFT JOIN venues v ON v.id = e.venue_id
            {prices}
            LEFT JOIN LATERAL (
                SELECT array_agg(DISTINCT es.marketplace ORDER BY es.marketplace) AS marketplaces
                FROM event_sources es WHERE es.event_id = e.id) m ON true
            {"WHERE " + " AND ".join(where) if where else ""}
        ), keyed AS (SELECT cand.*, {key} AS sort_key FROM cand)
        SELECT * FROM keyed
        {"WHERE " + " AND ".join(outer) if outer else ""}
        ORDER BY sort_key, id
        LIMIT %(limit)s"""
    return query, params


EVENT = """
SELECT e.id, e.name, e.starts_at, e.category, e.performers, e.status, e.timezone,
       e.venue_id, v.name AS venue_name, v.city AS venue_city, v.timezone AS venue_timezone
FROM events e LEFT JOIN venues v ON v.id = e.venue_id WHERE e.id = %s
"""
LINKS = """
SELECT marketplace, source_event_id, url FROM event_sources
WHERE event_id = %s ORDER BY marketplace, source_event_id
"""
PRICES = """
SELECT marketplace, min(total_cents) AS get_in_cents, count(*) AS listing_count
FROM listings_current WHERE event_id = %s AND gone_at IS NULL
GROUP BY marketplace ORDER BY marketplace
"""
#: the get-in price 24 h ago: from the hourly rollups, else from the snapshots around then
GET_IN_24H_AGO = """
SELECT coalesce(
    (SELECT min(min_total_cents) FROM listing_rollups_hourly
     WHERE event_id = %(id)s AND bucket = (
         SELECT max(bucket) FROM listing_rollups_hourly
         WHERE event_id = %(id)s AND bucket <= now() - interval '24 hours')),
    (SELECT min(total_cents) FROM listing_snapshots
     WHERE event_id = %(id)s AND observed_at >= now() - interval '25 hours'
       AND observed_at < now() - interval '23 hours')) AS then_cents
"""
EXISTS = "SELECT 1 FROM events WHERE id = %s"

CARD_PRICES = """
SELECT event_id, marketplace, min(total_cents) AS cents FROM listings_current
WHERE event_id = ANY(%(ids)s) AND gone_at IS NULL
GROUP BY event_id, marketplace ORDER BY event_id, marketplace
"""
CARD_DEALS = """
SELECT DISTINCT ON (event_id) event_id, marketplace, section, "row", quantity,
       total_cents, deal_score, deal_reason
FROM listings_current
WHERE event_id = ANY(%(ids)s) AND gone_at IS NULL AND deal_score IS NOT NULL
ORDER BY event_id, deal_score DESC, total_cents
"""
#: get-in 24 h ago from the alert matcher's get-in history, else its oldest of the last 24 h
CARD_THEN = """
SELECT e.id AS event_id, coalesce(
    (SELECT h.get_in_cents FROM alert_get_in_history h WHERE h.event_id = e.id
       AND h.observed_at <= now() - interval '24 hours'
     ORDER BY h.observed_at DESC LIMIT 1),
    (SELECT h.get_in_cents FROM alert_get_in_history h WHERE h.event_id = e.id
       AND h.observed_at > now() - interval '24 hours'
     ORDER BY h.observed_at LIMIT 1)) AS then_cents
FROM unnest(%(ids)s::bigint[]) e(id)
"""

WATCHED = """
SELECT DISTINCT e.id FROM watchlists w JOIN events e ON
       (w.kind = 'event' AND e.id = w.event_id)
    OR (w.kind = 'venue' AND e.venue_id = w.venue_id)
    OR (w.kind = 'performer' AND lower(w.performer) = ANY(
            SELECT lower(p) FROM unnest(e.performers) p))
WHERE w.user_id = %s
  AND (e.starts_at IS NULL OR e.starts_at >= now() - interval '6 hours')
"""

SOURCE_IDS = """
SELECT marketplace, source_event_id FROM event_sources
WHERE event_id = %(event)s AND (%(mk)s::text IS NULL OR marketplace = %(mk)s)
"""

REFRESH_ALL_SUMMARIES = "SELECT api_refresh_event_summary(array(SELECT id FROM events))"
REFRESH_SUMMARIES = "SELECT api_refresh_event_summary(%s::bigint[])"

BUY_URL = """
SELECT url FROM event_sources WHERE event_id = %s AND marketplace = %s AND url IS NOT NULL
ORDER BY last_seen_at DESC LIMIT 1
"""
