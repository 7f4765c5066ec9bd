"""The outbox writer: matches become outbox rows in the matcher's transaction.

Each hit's dedupe key — (rule, listing, price) or (rule, event, get-in price / restock) —
goes into ``alert_matches`` with ``ON CONFLICT DO NOTHING``; only the keys that were new
become outbox rows, in the same statement, so a replayed batch or the same drop seen twice
alerts once, while a further drop (a new price) alerts again.

Coalescing starts here: one batch's new matches for one person and channel become one
outbox row (one message); the dispatcher merges rows that pile up while a message waits.
Quiet hours (the rule's, in its zone or the user's) set when the row becomes due. SMS rows
are written only for premium users; the dispatcher checks again at send time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

#: NOTIFY channel the dispatchers LISTEN on.
NOTIFY_CHANNEL = "ripcity_alerts"

_WRITE = """
WITH m AS (
    INSERT INTO alert_matches (dedupe_key, rule_id, user_id, event_id, observed_at)
    SELECT DISTINCT ON (dedupe_key) dedupe_key, rule_id, user_id, event_id, observed_at
    FROM _am_hits ORDER BY dedupe_key
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, dedupe_key
), x AS (
    SELECT DISTINCT ON (m.id, ch.channel) m.id AS match_id, h.user_id, h.rule_id, ch.channel,
        CASE WHEN r.quiet_start IS NULL THEN now()
             ELSE alert_quiet_until(now(), r.quiet_start, r.quiet_end,
                                    coalesce(r.quiet_timezone, u.timezone)) END AS due,
        jsonb_build_object(
            'match_id', m.id, 'rule_id', h.rule_id, 'kind', h.kind, 'event_id', h.event_id,
            'event_name', e.name, 'starts_at', e.starts_at, 'venue', v.name,
            'marketplace', h.marketplace, 'listing_id', h.listing_id, 'section', h.section,
            'row', h."row", 'quantity', h.quantity, 'old_total_cents', h.old_total_cents,
            'total_cents', h.total_cents, 'reference_cents', h.reference_cents,
            'deal_score', h.deal_score, 'observed_at', h.observed_at,
            'threshold_cents', r.threshold_cents, 'drop_percent', r.drop_percent,
            'min_deal_score', r.min_deal_score, 'url', es.url) AS item
    FROM m JOIN _am_hits h ON h.dedupe_key = m.dedupe_key
    JOIN alert_rules r ON r.id = h.rule_id
    JOIN users u ON u.id = h.user_id
    CROSS JOIN LATERAL unnest(r.channels) ch(channel)
    LEFT JOIN events e ON e.id = h.event_id
    LEFT JOIN venues v ON v.id = e.venue_id
    LEFT JOIN LATERAL (
        SELECT s.url FROM event_sources s
        WHERE s.event_id = h.event_id AND s.marketplace = h.marketplace LIMIT 1) es ON true
    WHERE CASE ch.channel WHEN 'email' THEN true
                          WHEN 'sms' THEN alert_user_is_premium(h.user_id) ELSE false END
), o AS (
    INSERT INTO alert_outbox (rule_id, user_id, channel, dedupe_key, idempotency_key, payload,
                              next_attempt_at)
    SELECT min(rule_id), user_id, channel, 'm' || min(match_id) || '-' || channel,
           'm' || min(match_id) || '-' || channel,
           jsonb_build_object('matches', jsonb_agg(item ORDER BY match_id)), due
    FROM x GROUP BY user_id, channel, due
    RETURNING id
)
SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM o)
"""


def write_outbox(cur: psycopg.Cursor[Any]) -> tuple[int, int]:
    """Turn the hits in ``_am_hits`` into matches and outbox rows; returns (new matches,
    outbox rows). Runs inside the caller's transaction; NOTIFY is delivered at commit."""
    matches, outbox = cur.execute(_WRITE).fetchone()
    if outbox:
        cur.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))
    return int(matches), int(outbox)
