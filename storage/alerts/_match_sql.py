"""The matcher's SQL text: session temp tables and the set-based statements over them.

:mod:`storage.alerts.matching` runs them in this order inside one transaction. The changed
listings are copied into ``_am_changes``; each one probes the rule index
(``alert_rules (event_id, threshold_cents)`` for price rules, so a price change reads only
the rules it meets); rules aimed at a venue, a performer, a watchlist entry or "any event I
watch" are first resolved (``CANDIDATES``) to the events this batch touched. Hits land in
``_am_hits``, which :mod:`storage.alerts.outbox` turns into matches and outbox rows.
"""

from __future__ import annotations

DDL = """
CREATE TEMP TABLE IF NOT EXISTS _am_changes (
    marketplace text COLLATE "C", listing_id text COLLATE "C", event_id bigint, section text,
    "row" text, quantity integer, old_total_cents bigint, total_cents bigint,
    observed_at timestamptz, deal_score double precision, source_event_id text COLLATE "C",
    is_new boolean
);
CREATE TEMP TABLE IF NOT EXISTS _am_events (
    event_id bigint PRIMARY KEY, observed_at timestamptz, prev_exists boolean,
    prev_get_in bigint, get_in bigint
);
CREATE TEMP TABLE IF NOT EXISTS _am_cand (rule_id bigint, event_id bigint);
CREATE TEMP TABLE IF NOT EXISTS _am_secs (
    event_id bigint, section text, observed_at timestamptz, min_new bigint,
    min_old bigint, forced boolean, prev_exists boolean, prev_get_in bigint, get_in bigint,
    settled boolean NOT NULL DEFAULT false, PRIMARY KEY (event_id, section)
);
CREATE TEMP TABLE IF NOT EXISTS _am_hits (
    dedupe_key text, rule_id bigint, user_id bigint, kind text, event_id bigint,
    marketplace text, listing_id text, section text, "row" text, quantity integer,
    old_total_cents bigint, total_cents bigint, observed_at timestamptz,
    deal_score double precision, reference_cents bigint
);
TRUNCATE _am_changes, _am_events, _am_cand, _am_secs, _am_hits;
"""

RESOLVE_EVENTS = """
UPDATE _am_changes c SET event_id = es.event_id
FROM event_sources es
WHERE c.event_id IS NULL AND es.marketplace = c.marketplace
  AND es.source_event_id = c.source_event_id
"""

# Scored batches carry their deal score; ingest changes take it from listings_current.
FILL_SCORES = """
UPDATE _am_changes c SET deal_score = lc.deal_score
FROM listings_current lc
WHERE c.deal_score IS NULL AND lc.marketplace = c.marketplace
  AND lc.listing_id = c.listing_id AND lc.deal_score IS NOT NULL
"""

# Touched events; their state rows are locked (in id order) before they are read.
EVENTS = """
INSERT INTO _am_events (event_id, observed_at)
SELECT event_id, max(observed_at) FROM (
    SELECT event_id, observed_at FROM _am_changes WHERE event_id IS NOT NULL
    UNION ALL SELECT unnest(%(gone)s::bigint[]), %(gone_at)s::timestamptz) x
GROUP BY event_id
"""

LOCK_STATE = """
SELECT 1 FROM alert_event_state WHERE event_id IN (SELECT event_id FROM _am_events)
ORDER BY event_id FOR UPDATE
"""

# The previous get-in price (NULL = sold out; no row = never seen) and the current one.
EVENT_PRICES = """
UPDATE _am_events ev SET
    prev_exists = EXISTS (SELECT 1 FROM alert_event_state s WHERE s.event_id = ev.event_id),
    prev_get_in = (SELECT s.get_in_cents FROM alert_event_state s
                   WHERE s.event_id = ev.event_id),
    get_in = (SELECT min(lc.total_cents) FROM listings_current lc
              WHERE lc.event_id = ev.event_id AND lc.gone_at IS NULL)
"""

SAVE_STATE = """
INSERT INTO alert_event_state (event_id, get_in_cents, changed_at)
SELECT event_id, get_in, observed_at FROM _am_events
WHERE NOT prev_exists OR get_in IS DISTINCT FROM prev_get_in
ORDER BY event_id
ON CONFLICT (event_id) DO UPDATE SET get_in_cents = EXCLUDED.get_in_cents,
    changed_at = EXCLUDED.changed_at
"""

# One crawl's batches share an observation time: the get-in price after the last of them
# is the one recorded for that time (new_low / keeps_dropping read this history).
SAVE_HISTORY = """
INSERT INTO alert_get_in_history (event_id, observed_at, get_in_cents)
SELECT event_id, observed_at, get_in FROM _am_events
WHERE get_in IS NOT NULL AND get_in IS DISTINCT FROM prev_get_in
ON CONFLICT (event_id, observed_at) DO UPDATE SET get_in_cents = EXCLUDED.get_in_cents
"""

# Rules not aimed at one event, resolved to the events this batch touched.
CANDIDATES = """
WITH _am_watched AS MATERIALIZED (   -- watchlist entries that cover a touched event
    SELECT w.id, ev.event_id, w.user_id FROM _am_events ev
    JOIN watchlists w ON w.event_id = ev.event_id
    UNION ALL
    SELECT w.id, ev.event_id, w.user_id FROM _am_events ev
    JOIN events e ON e.id = ev.event_id
    JOIN watchlists w ON w.venue_id = e.venue_id AND w.venue_id IS NOT NULL
    UNION ALL
    SELECT w.id, ev.event_id, w.user_id FROM _am_events ev
    JOIN events e ON e.id = ev.event_id CROSS JOIN LATERAL unnest(e.performers) p(name)
    JOIN watchlists w ON lower(w.performer) = lower(p.name) AND w.performer IS NOT NULL
)
INSERT INTO _am_cand (rule_id, event_id)
SELECT DISTINCT rule_id, event_id FROM (
    SELECT r.id AS rule_id, ev.event_id
    FROM _am_events ev JOIN events e ON e.id = ev.event_id
    JOIN alert_rules r ON r.venue_id = e.venue_id AND r.active AND r.venue_id IS NOT NULL
    UNION ALL
    SELECT r.id, ev.event_id
    FROM _am_events ev JOIN events e ON e.id = ev.event_id
    CROSS JOIN LATERAL unnest(e.performers) p(name)
    JOIN alert_rules r ON lower(r.performer) = lower(p.name) AND r.active
                      AND r.performer IS NOT NULL
    UNION ALL
    SELECT r.id, w.event_id FROM _am_watched w
    JOIN alert_rules r ON r.watchlist_id = w.id AND r.active AND r.watchlist_id IS NOT NULL
    UNION ALL
    SELECT r.id, w.event_id FROM _am_watched w
    JOIN alert_rules r ON r.user_id = w.user_id AND r.active AND r.event_id IS NULL
                      AND r.watchlist_id IS NULL AND r.performer IS NULL AND r.venue_id IS NULL
    UNION ALL
    SELECT r.id, ev.event_id FROM _am_events ev
    JOIN alert_rules r ON r.event_id = ev.event_id AND r.active
                      AND r.kind IN ('drop_percent', 'deal_score_at_least',
                                     'new_listing_in_section', 'back_in_stock',
                                     'new_low', 'near_low', 'keeps_dropping')
) x
"""

# The filters every listing rule shares: N tickets together, marketplace, sections.
_LISTING_FILTER = """
    c.quantity >= r.min_quantity
    AND (r.marketplace IS NULL OR r.marketplace = c.marketplace)
    AND ((coalesce(cardinality(r.sections), 0) = 0 AND r.section IS NULL)
         OR EXISTS (SELECT 1 FROM unnest(array_append(coalesce(r.sections, '{}'), r.section)) s
                    WHERE upper(btrim(s)) = upper(btrim(c.section))))
"""

_HIT_COLS = """dedupe_key, rule_id, user_id, kind, event_id, marketplace, listing_id, section,
    "row", quantity, old_total_cents, total_cents, observed_at, deal_score, reference_cents"""

_LISTING_HIT = """
    'r' || r.id || ':' || c.marketplace || ':' || c.listing_id || ':' || c.total_cents,
    r.id, r.user_id, r.kind, c.event_id, c.marketplace, c.listing_id, c.section, c."row",
    c.quantity, c.old_total_cents, c.total_cents, c.observed_at, c.deal_score"""

# All-in price at or below X: only when the listing is new or got cheaper (a rise that
# stays under X says nothing new); the (rule, listing, price) key stops repeats.
PRICE_HITS = f"""
INSERT INTO _am_hits ({_HIT_COLS})
SELECT {_LISTING_HIT}, r.threshold_cents
FROM _am_changes c
JOIN LATERAL (
    SELECT r.* FROM alert_rules r
    WHERE r.event_id = c.event_id AND r.active AND r.kind = 'price_at_or_below'
      AND r.threshold_cents >= c.total_cents
    UNION ALL
    SELECT r.* FROM _am_cand k JOIN alert_rules r ON r.id = k.rule_id
    WHERE k.event_id = c.event_id AND r.kind = 'price_at_or_below'
      AND r.threshold_cents >= c.total_cents
) r ON true
WHERE c.event_id IS NOT NULL
  AND (c.is_new OR c.total_cents < c.old_total_cents)
  AND {_LISTING_FILTER}
"""

# Whether any touched event has a price rule (on the event, or resolved to it): a crawl of
# events nobody set a price on then probes no rule per changed listing.
ANY_PRICE_RULES = """
SELECT EXISTS (SELECT 1 FROM _am_events ev JOIN alert_rules r ON r.event_id = ev.event_id
               WHERE r.active AND r.kind = 'price_at_or_below')
    OR EXISTS (SELECT 1 FROM _am_cand k JOIN alert_rules r ON r.id = k.rule_id
               WHERE r.kind = 'price_at_or_below')
"""

OTHER_LISTING_HITS = f"""
INSERT INTO _am_hits ({_HIT_COLS})
SELECT {_LISTING_HIT}, NULL
FROM _am_changes c
JOIN _am_cand k ON k.event_id = c.event_id
JOIN alert_rules r ON r.id = k.rule_id
WHERE {_LISTING_FILTER}
  AND CASE r.kind
        WHEN 'new_listing_in_section' THEN coalesce(c.is_new, false)
        WHEN 'deal_score_at_least' THEN c.deal_score >= r.min_deal_score
             AND (c.is_new IS NOT FALSE OR c.total_cents < c.old_total_cents)
        ELSE false
      END
"""

# Event get-in price fell by Y % or $Y from its highest within the rule's window.
DROP_HITS = f"""
INSERT INTO _am_hits ({_HIT_COLS})
SELECT 'r' || r.id || ':getin:' || ev.event_id || ':' || ev.get_in,
       r.id, r.user_id, r.kind, ev.event_id, lc.marketplace, lc.listing_id, lc.section,
       lc."row", lc.quantity, ref.peak, ev.get_in, ev.observed_at, lc.deal_score, ref.peak
FROM _am_events ev
JOIN _am_cand k ON k.event_id = ev.event_id
JOIN alert_rules r ON r.id = k.rule_id AND r.kind = 'drop_percent'
CROSS JOIN LATERAL (
    SELECT max(h.get_in_cents) AS peak FROM alert_get_in_history h
    WHERE h.event_id = ev.event_id AND h.observed_at < ev.observed_at
      AND h.observed_at >= ev.observed_at - make_interval(secs => r.window_seconds)
) ref
CROSS JOIN LATERAL (
    SELECT * FROM listings_current l
    WHERE l.event_id = ev.event_id AND l.gone_at IS NULL AND l.total_cents = ev.get_in
    ORDER BY l.marketplace, l.listing_id LIMIT 1
) lc
WHERE ev.get_in IS NOT NULL AND ev.get_in < ev.prev_get_in AND ref.peak IS NOT NULL
  AND ((r.drop_percent IS NOT NULL AND ev.get_in <= ref.peak * (1 - r.drop_percent / 100.0))
       OR (r.drop_cents IS NOT NULL AND ref.peak - ev.get_in >= r.drop_cents))
"""

def _drop_run(rule: str, history: str, where: str, before: str) -> str:
    """The lateral ``run`` of keeps_dropping: the rule's last ``drop_count`` prices in
    ``history`` (rows ``h`` matching ``where``) recorded before ``before``, newest first --
    how many (``n``), how many were drops (``drops``) and the newest (``latest``)."""
    return f"""CROSS JOIN LATERAL (
    SELECT count(*) AS n, count(*) FILTER (WHERE t.get_in_cents < t.older) AS drops,
           (array_agg(t.get_in_cents ORDER BY t.observed_at DESC))[1] AS latest
    FROM (SELECT s.observed_at, s.get_in_cents,
                 lead(s.get_in_cents) OVER (ORDER BY s.observed_at DESC) AS older
          FROM (SELECT h.observed_at, h.get_in_cents FROM {history} h
                WHERE {rule}.kind = 'keeps_dropping' AND {where}
                  AND h.observed_at < {before}
                ORDER BY h.observed_at DESC LIMIT greatest(coalesce({rule}.drop_count, 2), 1)) s
         ) t
) run"""


def _low_fires(rule: str, price: str) -> str:
    """Whether a rule ``rule`` of kind new_low / near_low / keeps_dropping fires on the get-in
    ``price``, given the lateral ``ref.low`` (the low before it) and ``run`` (the last
    changes: ``n``, ``drops``, ``latest``) its statement computes."""
    return f"""CASE {rule}.kind
        WHEN 'new_low' THEN {price} < ref.low
        WHEN 'near_low' THEN {price} <= least(ref.low, {price})
                                          * (1 + coalesce({rule}.near_percent, 5) / 100.0)
        WHEN 'keeps_dropping' THEN run.n = greatest(coalesce({rule}.drop_count, 2), 1)
             AND run.drops = run.n - 1 AND {price} < run.latest
        ELSE false
      END"""


# The get-in price fell (new_low / near_low / keeps_dropping), measured against the
# event's get-in history before this batch (SAVE_HISTORY runs after the hits):
# new_low: below every earlier get-in price (since tracking began, or within
#   low_window_seconds); the first price ever seen is no "new low".
# near_low: within near_percent % above the lowest get-in price (this one included), on a
#   drop; each price fires once (the key), so a slide inside the band alerts per new price.
# keeps_dropping: this drop and the drop_count - 1 changes before it were all drops (the
#   last drop_count recorded get-in prices fall one after another, then this one is lower).
LOW_HITS = f"""
INSERT INTO _am_hits ({_HIT_COLS})
SELECT 'r' || r.id || ':low:' || ev.event_id || ':' || ev.get_in,
       r.id, r.user_id, r.kind, ev.event_id, lc.marketplace, lc.listing_id, lc.section,
       lc."row", lc.quantity, ev.prev_get_in, ev.get_in, ev.observed_at, lc.deal_score,
       least(ref.low, ev.get_in)
FROM _am_events ev
JOIN _am_cand k ON k.event_id = ev.event_id
JOIN alert_rules r ON r.id = k.rule_id AND r.kind IN ('new_low', 'near_low', 'keeps_dropping')
                  AND coalesce(cardinality(r.sections), 0) = 0 AND r.section IS NULL
CROSS JOIN LATERAL (
    SELECT min(h.get_in_cents) AS low FROM alert_get_in_history h
    WHERE h.event_id = ev.event_id AND h.observed_at < ev.observed_at
      AND (r.low_window_seconds IS NULL
           OR h.observed_at >= ev.observed_at - make_interval(secs => r.low_window_seconds))
) ref
{_drop_run("r", "alert_get_in_history", "h.event_id = ev.event_id",
            "ev.observed_at")}
CROSS JOIN LATERAL (
    SELECT * FROM listings_current l
    WHERE l.event_id = ev.event_id AND l.gone_at IS NULL AND l.total_cents = ev.get_in
    ORDER BY l.marketplace, l.listing_id LIMIT 1
) lc
WHERE ev.get_in IS NOT NULL AND ev.get_in < ev.prev_get_in AND ref.low IS NOT NULL
  AND {_low_fires("r", "ev.get_in")}
"""

# -- the same kinds on a section's get-in price (rules with sections) -----------------------
# Sections are compared normalised (upper(btrim(...))), as the listing rules compare them.
_RULE_SECTIONS = """ARRAY(SELECT DISTINCT upper(btrim(x))
          FROM unnest(array_append(coalesce(r.sections, '{}'), r.section)) x
          WHERE btrim(x) <> '')"""
_SECTION_RULE = """r.kind IN ('new_low', 'near_low', 'keeps_dropping')
      AND (coalesce(cardinality(r.sections), 0) > 0 OR r.section IS NOT NULL)"""

# The (event, section) pairs to follow in this batch: on the touched events that a section
# rule watches (resolved in _am_cand), every section the batch changed (its cheapest new and
# old price) and every section of those rules (``forced``: recomputed even when no listing
# of it changed, e.g. its cheapest one went away). An event no section rule watches adds
# nothing, and with no pair the section statements after this one are skipped: with no
# section rule, the matcher pays for this one statement.
SECTIONS = f"""
WITH ruled AS MATERIALIZED (
    SELECT k.event_id, s.section FROM _am_cand k JOIN alert_rules r ON r.id = k.rule_id
    CROSS JOIN LATERAL unnest({_RULE_SECTIONS}) s(section)
    WHERE {_SECTION_RULE}
)
INSERT INTO _am_secs (event_id, section, observed_at, min_new, min_old, forced)
SELECT x.event_id, x.section, max(ev.observed_at), min(x.new_cents), min(x.old_cents),
       bool_or(x.forced)
FROM (
    SELECT c.event_id, upper(btrim(c.section)) AS section, c.total_cents AS new_cents,
           c.old_total_cents AS old_cents, false AS forced
    FROM _am_changes c
    WHERE c.event_id IN (SELECT event_id FROM ruled) AND btrim(c.section) <> ''
    UNION ALL
    SELECT event_id, section, NULL, NULL, true FROM ruled
) x JOIN _am_events ev ON ev.event_id = x.event_id
GROUP BY x.event_id, x.section
"""

# Each pair's get-in price before this batch: its latest history row (a backward scan of
# the primary key); then the pairs whose price cannot have moved -- every changed listing
# was and is dearer than it -- keep it (``settled``) and are not recomputed.
SECTION_PREV = """
UPDATE _am_secs s SET (prev_exists, prev_get_in) = (
    SELECT true, h.get_in_cents FROM alert_section_get_in_history h
    WHERE h.event_id = s.event_id AND h.section = s.section AND h.observed_at <= s.observed_at
    ORDER BY h.observed_at DESC LIMIT 1)
"""
SECTION_SETTLED = """
UPDATE _am_secs SET settled = true, get_in = prev_get_in
WHERE prev_exists AND NOT forced AND prev_get_in < min_new
  AND (min_old IS NULL OR prev_get_in < min_old)
"""

# The others: the cheapest live listing per section, one index scan per touched event (a
# section with none stays NULL).
SECTION_GET_IN = """
UPDATE _am_secs s SET get_in = live.low
FROM (
    SELECT l.event_id, upper(btrim(l.section)) AS section, min(l.total_cents) AS low
    FROM (SELECT DISTINCT event_id FROM _am_secs WHERE NOT settled) e
    CROSS JOIN LATERAL (   -- OFFSET 0: kept a per-event index scan, never a seq scan
        SELECT lc.event_id, lc.section, lc.total_cents FROM listings_current lc
        WHERE lc.event_id = e.event_id AND lc.gone_at IS NULL OFFSET 0) l
    GROUP BY 1, 2
) live
WHERE NOT s.settled AND live.event_id = s.event_id AND live.section = s.section
"""

# A section's get-in price that changed is recorded for the batch's time (NULL: none live).
SAVE_SECTION_HISTORY = """
INSERT INTO alert_section_get_in_history (event_id, section, observed_at, get_in_cents)
SELECT event_id, section, observed_at, get_in FROM _am_secs
WHERE NOT settled AND CASE WHEN prev_exists THEN get_in IS DISTINCT FROM prev_get_in
                           ELSE get_in IS NOT NULL END
ON CONFLICT (event_id, section, observed_at) DO UPDATE SET get_in_cents = EXCLUDED.get_in_cents
"""

# new_low / near_low / keeps_dropping of a rule with sections, as LOW_HITS on the rule's
# get-in price: the cheapest live listing in any of its sections (every marketplace and
# quantity), before this batch (SAVE_SECTION_HISTORY runs after the hits). Its low is the
# lowest history row of its sections; keeps_dropping reads one section's history (a rule
# naming several never fires it; the API refuses one).
SECTION_LOW_HITS = f"""
INSERT INTO _am_hits ({_HIT_COLS})
SELECT 'r' || rs.id || ':low:' || rs.event_id || ':' || g.get_in,
       rs.id, rs.user_id, rs.kind, rs.event_id, lc.marketplace, lc.listing_id, lc.section,
       lc."row", lc.quantity, g.prev_get_in, g.get_in, rs.observed_at, lc.deal_score,
       least(ref.low, g.get_in)
FROM (
    SELECT r.id, r.user_id, r.kind, r.low_window_seconds, r.near_percent, r.drop_count,
           ev.event_id, ev.observed_at, {_RULE_SECTIONS} AS secs
    FROM _am_cand k JOIN alert_rules r ON r.id = k.rule_id
    JOIN _am_events ev ON ev.event_id = k.event_id
    WHERE {_SECTION_RULE}
) rs
CROSS JOIN LATERAL (
    SELECT min(s.get_in) AS get_in, min(s.prev_get_in) AS prev_get_in FROM _am_secs s
    WHERE s.event_id = rs.event_id AND s.section = ANY(rs.secs)
) g
CROSS JOIN LATERAL (   -- per section: a range of the primary key each
    SELECT min(m.low) AS low FROM unnest(rs.secs) u(section)
    CROSS JOIN LATERAL (
        SELECT min(h.get_in_cents) AS low FROM alert_section_get_in_history h
        WHERE h.event_id = rs.event_id AND h.section = u.section
          AND h.observed_at < rs.observed_at
          AND (rs.low_window_seconds IS NULL
               OR h.observed_at >= rs.observed_at - make_interval(secs => rs.low_window_seconds))
    ) m
) ref
{_drop_run("rs", "alert_section_get_in_history",
            "cardinality(rs.secs) = 1 AND h.event_id = rs.event_id AND h.section = rs.secs[1]",
            "rs.observed_at")}
CROSS JOIN LATERAL (
    SELECT * FROM listings_current l
    WHERE l.event_id = rs.event_id AND l.gone_at IS NULL AND l.total_cents = g.get_in
      AND upper(btrim(l.section)) = ANY(rs.secs)
    ORDER BY l.marketplace, l.listing_id LIMIT 1
) lc
WHERE g.get_in IS NOT NULL AND g.get_in < g.prev_get_in AND ref.low IS NOT NULL
  AND {_low_fires("rs", "g.get_in")}
"""

# A sold-out event (get-in NULL) has listings again.
STOCK_HITS = f"""
INSERT INTO _am_hits ({_HIT_COLS})
SELECT 'r' || r.id || ':stock:' || ev.event_id || ':' || extract(epoch FROM ev.observed_at),
       r.id, r.user_id, r.kind, ev.event_id, lc.marketplace, lc.listing_id, lc.section,
       lc."row", lc.quantity, NULL, ev.get_in, ev.observed_at, lc.deal_score, NULL
FROM _am_events ev
JOIN _am_cand k ON k.event_id = ev.event_id
JOIN alert_rules r ON r.id = k.rule_id AND r.kind = 'back_in_stock'
CROSS JOIN LATERAL (
    SELECT * FROM listings_current l
    WHERE l.event_id = ev.event_id AND l.gone_at IS NULL AND l.total_cents = ev.get_in
    ORDER BY l.marketplace, l.listing_id LIMIT 1
) lc
WHERE ev.prev_exists AND ev.prev_get_in IS NULL AND ev.get_in IS NOT NULL
"""

# Price protection: a purchase's rule (kind 'price_protection', aimed at its event) meets a
# listing that is new or got cheaper, inside the claim window, below the price paid, for
# the same or better seats: the same section, the same row or a better one (a lower number,
# or an earlier letter), as many tickets or more; on the marketplace it was bought on when
# we track that one, else on any. Probes alert_rules_event_kind_idx per changed listing.
PROTECT_HITS = f"""
INSERT INTO _am_hits ({_HIT_COLS})
SELECT {_LISTING_HIT}, p.price_paid_cents
FROM _am_changes c
JOIN alert_rules r ON r.event_id = c.event_id AND r.active AND r.kind = 'price_protection'
JOIN purchases p ON p.rule_id = r.id
WHERE c.event_id IS NOT NULL AND c.total_cents < p.price_paid_cents
  AND (c.is_new OR c.total_cents < c.old_total_cents)
  AND c.observed_at >= p.purchased_at AND c.observed_at <= p.claim_ends_at
  AND c.quantity >= p.quantity
  AND upper(btrim(c.section)) = upper(btrim(p.section))
  AND (p."row" IS NULL OR upper(btrim(c."row")) = upper(btrim(p."row"))
       OR (c."row" ~ '^[0-9]+$' AND p."row" ~ '^[0-9]+$' AND c."row"::int < p."row"::int)
       OR (c."row" ~ '^[A-Za-z]{{1,2}}$' AND p."row" ~ '^[A-Za-z]{{1,2}}$'
           AND (length(c."row"), upper(c."row")) < (length(p."row"), upper(p."row"))))
  AND (c.marketplace = p.marketplace
       OR p.marketplace NOT IN ('ticketmaster', 'seatgeek', 'eventbrite', 'stubhub'))
"""

# The evidence a claim needs, kept with the purchase (listing, price, the snapshot's time).
SAVE_EVIDENCE = """
INSERT INTO purchase_evidence (purchase_id, marketplace, listing_id, section, "row", quantity,
                               total_cents, observed_at)
SELECT p.id, h.marketplace, h.listing_id, h.section, h."row", h.quantity, h.total_cents,
       h.observed_at
FROM _am_hits h JOIN purchases p ON p.rule_id = h.rule_id
WHERE h.kind = 'price_protection'
ON CONFLICT DO NOTHING
"""

# Row estimates for the per-change probes are large, so PostgreSQL would JIT-compile them:
# ~0.5 s of compiling for ~10 ms of index probes. Matching is OLTP work.
NO_JIT = "SET LOCAL jit = off"
# Row estimates for the probes' plans from a sample of 3,000 changes (statistics target 10)
# rather than 30,000: a whole first-crawl chunk (20k new listings) took 50 ms to ANALYZE,
# now 7, and a few common values and histogram bounds a column are what the plans use.
ANALYZE_CHANGES = """
SET LOCAL default_statistics_target = 10;
ANALYZE _am_changes;
SET LOCAL default_statistics_target TO DEFAULT
"""
COUNT_HITS = "SELECT count(*) FROM _am_hits"
