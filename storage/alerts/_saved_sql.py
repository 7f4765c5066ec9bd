"""The saved-search matcher's SQL: the searches that cover the events a batch touched, their
hits, and the matches and outbox rows they become.

Runs inside :func:`storage.alerts.matching.match_changes`' transaction, after the rule
statements, over the same session tables (``_am_changes``, ``_am_events``). Each touched
event that can alert (new to the matcher, or with a new or cheaper listing) finds its
alerting searches through one index per way a search is narrowed (venue, city, category,
words of the text, or none of these: the "broad" few), read only as far as the listing
ceilings its prices meet, then every search condition is checked exactly as the event
search applies it (:mod:`storage.events.filters`).
"""

from __future__ import annotations

DDL = """
CREATE TEMP TABLE IF NOT EXISTS _ss_cand (ss_id bigint, event_id bigint,
                                          max_cents bigint, listings boolean);
CREATE INDEX IF NOT EXISTS _ss_cand_price_idx ON _ss_cand (event_id, max_cents)
    WHERE listings;
CREATE TEMP TABLE IF NOT EXISTS _ss_hits (
    dedupe_key text, ss_id bigint, user_id bigint, kind text, event_id bigint,
    marketplace text, listing_id text, section text, "row" text, quantity integer,
    old_total_cents bigint, total_cents bigint, observed_at timestamptz,
    deal_score double precision
);
CREATE INDEX IF NOT EXISTS _ss_hits_key_idx ON _ss_hits (dedupe_key);
TRUNCATE _ss_cand, _ss_hits;
"""

_ALERTING = "(s.alert_new_events OR s.alert_listings)"

# The event conditions of a saved search, as storage.events.filters.event_conditions
# writes them for a search; ``e`` is the event, ``v`` its venue, ``s`` the search.
_LIKE = "ripcity_like_pattern(s.q)"  # its text as an ILIKE pattern (wildcards escaped)
EVENT_MATCHES = rf"""
    (s.q IS NULL OR e.search @@ plainto_tsquery('simple', s.q)
     OR e.name ILIKE {_LIKE} OR v.name ILIKE {_LIKE} OR v.city ILIKE {_LIKE}
     OR array_to_string(e.performers, ' ') ILIKE {_LIKE})
    AND (s.starts_after IS NULL OR e.starts_at >= s.starts_after)
    AND (s.starts_after IS NOT NULL OR e.starts_at IS NULL
         OR e.starts_at >= now() - interval '6 hours')
    AND (s.starts_before IS NULL OR e.starts_at < s.starts_before)
    AND (s.category IS NULL OR lower(e.category) = lower(s.category))
    AND (s.city IS NULL OR lower(v.city) = lower(s.city))
    AND (s.venue_id IS NULL OR e.venue_id = s.venue_id)
    AND (s.marketplace IS NULL OR EXISTS (SELECT 1 FROM event_sources es
         WHERE es.event_id = e.id AND es.marketplace = s.marketplace))
"""

# The touched events that can alert, each with the lowest listing ceiling that matters: a
# new event (first seen by the matcher) any alerting search (-1); a known one only the
# searches whose ceiling its cheapest new, cheaper or newly scored listing meets (no such
# listing: no candidate at all). So the searches read follow the batch's changes.
_REACH = """(
    SELECT ev.event_id, CASE WHEN NOT ev.prev_exists THEN -1 ELSE f.floor END AS floor
    FROM _am_events ev
    LEFT JOIN (SELECT event_id, min(total_cents) AS floor FROM _am_changes
               WHERE is_new OR is_new IS NULL OR total_cents < old_total_cents
               GROUP BY event_id) f ON f.event_id = ev.event_id
    WHERE NOT ev.prev_exists OR f.floor IS NOT NULL
)"""

# What the candidates' checks read of a search (each branch returns it, so the searches
# are not joined again: that join's hash would read every saved search per batch).
_S = """s.id, s.q, s.starts_after, s.starts_before, s.category, s.city, s.venue_id,
       s.marketplace, s.max_price_cents, s.alert_listings"""

# One index per way a search is narrowed (the partial indexes of migrations 0890 / 0920,
# each keyed by the listing ceiling too); the branches are disjoint, so no DISTINCT.
CANDIDATES = f"""
INSERT INTO _ss_cand (ss_id, event_id, max_cents, listings)
SELECT s.id, e.id, coalesce(s.max_price_cents, 9223372036854775807), s.alert_listings
FROM {_REACH} t
JOIN events e ON e.id = t.event_id
LEFT JOIN venues v ON v.id = e.venue_id
JOIN LATERAL (
    SELECT {_S} FROM saved_searches s
    WHERE s.venue_id = e.venue_id AND s.alert_ceiling >= t.floor
      AND {_ALERTING} AND s.venue_id IS NOT NULL
    UNION ALL
    SELECT {_S} FROM saved_searches s
    WHERE lower(s.city) = lower(v.city) AND s.alert_ceiling >= t.floor
      AND {_ALERTING} AND s.city IS NOT NULL AND s.venue_id IS NULL
    UNION ALL
    SELECT {_S} FROM saved_searches s
    WHERE lower(s.category) = lower(e.category) AND s.alert_ceiling >= t.floor
      AND {_ALERTING} AND s.category IS NOT NULL AND s.city IS NULL AND s.venue_id IS NULL
    UNION ALL
    SELECT {_S} FROM saved_searches s
    WHERE s.q_terms && (tsvector_to_array(e.search) || tsvector_to_array(to_tsvector(
              'simple', coalesce(v.name, '') || ' ' || coalesce(v.city, ''))))
      AND s.alert_ceiling >= t.floor
      AND {_ALERTING} AND s.q_terms IS NOT NULL AND s.category IS NULL
      AND s.city IS NULL AND s.venue_id IS NULL
    UNION ALL
    SELECT {_S} FROM saved_searches s
    WHERE s.alert_ceiling >= t.floor AND {_ALERTING} AND s.q IS NULL
      AND s.category IS NULL AND s.city IS NULL AND s.venue_id IS NULL
) s ON true
WHERE {EVENT_MATCHES}
"""

_HIT_COLS = """dedupe_key, ss_id, user_id, kind, event_id, marketplace, listing_id, section,
    "row", quantity, old_total_cents, total_cents, observed_at, deal_score"""

# A new event (first seen by the matcher, created after the search was saved) whose get-in
# price is within the search's bounds: once per (search, event).
EVENT_HITS = f"""
INSERT INTO _ss_hits ({_HIT_COLS})
SELECT 's' || s.id || ':event:' || ev.event_id, s.id, s.user_id, 'saved_search_event',
       ev.event_id, lc.marketplace, lc.listing_id, lc.section, lc."row", lc.quantity, NULL,
       ev.get_in, ev.observed_at, lc.deal_score
FROM _ss_cand k
JOIN _am_events ev ON ev.event_id = k.event_id
JOIN events e ON e.id = ev.event_id
JOIN saved_searches s ON s.id = k.ss_id AND s.alert_new_events
CROSS JOIN LATERAL (
    SELECT * FROM listings_current l
    WHERE l.event_id = ev.event_id AND l.gone_at IS NULL AND l.total_cents = ev.get_in
    ORDER BY l.marketplace, l.listing_id LIMIT 1
) lc
WHERE NOT ev.prev_exists AND e.created_at >= s.created_at AND ev.get_in IS NOT NULL
  AND (s.min_price_cents IS NULL OR ev.get_in >= s.min_price_cents)
  AND (s.max_price_cents IS NULL OR ev.get_in <= s.max_price_cents)
"""

# A listing meeting the search's price, quantity, marketplace and score conditions, when it
# is new, got cheaper, or (a scored batch) was first seen after the search was saved; the
# (search, listing, price) key stops repeats, as for rules.
LISTING_HITS = f"""
INSERT INTO _ss_hits ({_HIT_COLS})
SELECT 's' || s.id || ':' || c.marketplace || ':' || c.listing_id || ':' || c.total_cents,
       s.id, s.user_id, 'saved_search_listing', c.event_id, c.marketplace, c.listing_id,
       c.section, c."row", c.quantity, c.old_total_cents, c.total_cents, c.observed_at,
       c.deal_score
FROM _am_changes c
JOIN _ss_cand k ON k.event_id = c.event_id AND k.listings AND k.max_cents >= c.total_cents
JOIN saved_searches s ON s.id = k.ss_id
WHERE c.quantity >= s.quantity
  AND (s.marketplace IS NULL OR s.marketplace = c.marketplace)
  AND (s.min_price_cents IS NULL OR c.total_cents >= s.min_price_cents)
  AND (s.max_price_cents IS NULL OR c.total_cents <= s.max_price_cents)
  AND (s.min_deal_score IS NULL OR c.deal_score >= s.min_deal_score)
  AND (c.is_new OR c.total_cents < c.old_total_cents
       OR (c.is_new IS NULL AND s.min_deal_score IS NOT NULL AND EXISTS (
           SELECT 1 FROM listings_current lc WHERE lc.marketplace = c.marketplace
             AND lc.listing_id = c.listing_id AND lc.first_seen >= s.created_at)))
"""

COUNT_HITS = "SELECT count(*) FROM _ss_hits"
ANALYZE_CANDIDATES = "ANALYZE _ss_cand"
ANALYZE_HITS = "ANALYZE _ss_hits"

# As storage.alerts.outbox's rule write: new keys only become matches and outbox rows, one
# row per person, channel and due time; quiet hours are the account's.
WRITE = """
WITH m AS (
    INSERT INTO alert_matches (dedupe_key, saved_search_id, user_id, event_id, observed_at)
    SELECT DISTINCT ON (dedupe_key) dedupe_key, ss_id, user_id, event_id, observed_at
    FROM _ss_hits ORDER BY dedupe_key
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, dedupe_key
), x AS (
    SELECT DISTINCT ON (m.id, ch.channel) m.id AS match_id, h.user_id, h.ss_id, ch.channel,
        alert_quiet_until(now(), u.quiet_start, u.quiet_end, u.timezone) AS due,
        jsonb_build_object(
            'match_id', m.id, 'saved_search_id', h.ss_id, 'saved_search_name', s.name,
            'kind', h.kind, 'event_id', h.event_id,
            'event_name', e.name, 'starts_at', e.starts_at, 'venue', v.name,
            'marketplace', h.marketplace, 'listing_id', h.listing_id, 'section', h.section,
            'row', h."row", 'quantity', h.quantity, 'old_total_cents', h.old_total_cents,
            'total_cents', h.total_cents, 'deal_score', h.deal_score,
            'observed_at', h.observed_at, 'threshold_cents', s.max_price_cents,
            'min_deal_score', s.min_deal_score, 'url', es.url) AS item
    FROM m JOIN _ss_hits h ON h.dedupe_key = m.dedupe_key
    JOIN saved_searches s ON s.id = h.ss_id
    JOIN users u ON u.id = h.user_id
    CROSS JOIN LATERAL unnest(s.channels) ch(channel)
    LEFT JOIN events e ON e.id = h.event_id
    LEFT JOIN venues v ON v.id = e.venue_id
    LEFT JOIN LATERAL (
        SELECT es.url FROM event_sources es
        WHERE es.event_id = h.event_id AND es.marketplace = h.marketplace LIMIT 1) es ON true
    WHERE CASE ch.channel WHEN 'email' THEN true
                          WHEN 'sms' THEN alert_user_is_premium(h.user_id) ELSE false END
), o AS (
    INSERT INTO alert_outbox (saved_search_id, user_id, channel, dedupe_key, idempotency_key,
                              payload, next_attempt_at)
    SELECT min(ss_id), user_id, channel, 'm' || min(match_id) || '-' || channel,
           'm' || min(match_id) || '-' || channel,
           jsonb_build_object('matches', jsonb_agg(item ORDER BY match_id)), due
    FROM x GROUP BY user_id, channel, due
    RETURNING id
)
SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM o)
"""
