"""SQL text of merges and splits (no I/O). ``%(s)s`` is the survivor, ``%(o)s`` the other
event (merge) or the event split off (split)."""

LOCK_EVENTS = "SELECT id FROM events WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE"
RESOLVE = """
WITH RECURSIVE chain(id, depth) AS (
    SELECT %(id)s::bigint, 0
    UNION ALL
    SELECT r.new_id, c.depth + 1 FROM chain c JOIN event_redirects r ON r.old_id = c.id
    WHERE c.depth < 32)
SELECT id FROM chain ORDER BY depth DESC LIMIT 1
"""
REDIRECT = "SELECT new_id FROM event_redirects WHERE old_id = %s"

# -- merge: other -> survivor ---------------------------------------------------------------
MOVE_SOURCES = ("UPDATE event_sources SET event_id = %(s)s WHERE event_id = %(o)s "
                "RETURNING marketplace, source_event_id")
MOVE_PLAIN = [f"UPDATE {t} SET event_id = %(s)s WHERE event_id = %(o)s" for t in (
    "listings_current", "listing_snapshots", "refresh_requests", "alert_matches",
    "event_match_decisions")]
#: rows keyed by event and more: moved unless the survivor has the same key, then dropped
MOVE_KEYED = [
    ("event_price_stats", "marketplace, observed_at"),
    ("listing_rollups_hourly", "bucket, marketplace, section"),
    ("alert_get_in_history", "observed_at"),
    ("alert_section_get_in_history", "section, observed_at"),
]
RECOMPUTED = [f"DELETE FROM {t} WHERE event_id = %(o)s" for t in (
    "event_forecasts", "alert_event_state", "api_event_summary")]
BUMP_VERSION = """
INSERT INTO ingest_versions AS v (event_id, version)
SELECT %(s)s, coalesce(max(version), 0) + 1 FROM ingest_versions WHERE event_id IN (%(s)s, %(o)s)
ON CONFLICT (event_id) DO UPDATE SET version = EXCLUDED.version
"""
DROP_VERSION = "DELETE FROM ingest_versions WHERE event_id = %(o)s"
# a watcher of both keeps the survivor's entry; rules on the dropped entry move to it
DUP_WATCHES = """
SELECT o.id, o.user_id, o.note, s.id AS keep_id FROM watchlists o
JOIN watchlists s ON s.user_id = o.user_id AND s.event_id = %(s)s
WHERE o.event_id = %(o)s ORDER BY o.id
"""
REPOINT_RULES = ("UPDATE alert_rules SET watchlist_id = %(keep)s WHERE watchlist_id = %(drop)s "
                 "RETURNING id")
DROP_WATCH = "DELETE FROM watchlists WHERE id = %s"
MOVE_WATCHES = "UPDATE watchlists SET event_id = %(s)s WHERE event_id = %(o)s RETURNING id"
MOVE_RULES = "UPDATE alert_rules SET event_id = %(s)s WHERE event_id = %(o)s RETURNING id"
# after the move, a user's identical rules (all but id, times and firing state) are one
DUP_RULES = """
SELECT r.id, to_jsonb(r) AS row FROM alert_rules r
WHERE r.event_id = %(s)s AND EXISTS (
    SELECT 1 FROM alert_rules k WHERE k.event_id = %(s)s AND k.user_id = r.user_id
      AND k.id < r.id
      AND (to_jsonb(k) - %(volatile)s::text[]) = (to_jsonb(r) - %(volatile)s::text[]))
"""
DROP_RULE = "DELETE FROM alert_rules WHERE id = %s"
FILL_SURVIVOR = """
UPDATE events s SET starts_at = coalesce(s.starts_at, o.starts_at),
    venue_id = coalesce(s.venue_id, o.venue_id), category = coalesce(s.category, o.category),
    timezone = coalesce(s.timezone, o.timezone), start_date = coalesce(s.start_date, o.start_date),
    performers = CASE WHEN cardinality(s.performers) = 0 THEN o.performers ELSE s.performers END,
    updated_at = now()
FROM events o WHERE s.id = %(s)s AND o.id = %(o)s
"""
FLATTEN = "UPDATE event_redirects SET new_id = %(s)s WHERE new_id = %(o)s"
ADD_REDIRECT = """
INSERT INTO event_redirects (old_id, new_id, moved) VALUES (%(o)s, %(s)s, %(moved)s)
ON CONFLICT (old_id) DO UPDATE SET new_id = EXCLUDED.new_id, moved = EXCLUDED.moved,
    merged_at = now()
"""
DROP_EVENT = "DELETE FROM events WHERE id = %(o)s"
DECISION = ("INSERT INTO event_match_decisions (marketplace, source_event_id, event_id, "
            "candidate_id, decision, score, reason, decided_by) "
            "VALUES (%s, %s, %s, %s, %s, NULL, %s, %s)")
SUMMARY = "SELECT api_refresh_event_summary(%s::bigint[])"

# -- split: the given sources of the survivor -> a new (or revived) event -------------------
SOURCES_OF = "SELECT marketplace, source_event_id, name FROM event_sources WHERE event_id = %s"
REDIRECTS_TO = "SELECT old_id, moved FROM event_redirects WHERE new_id = %s ORDER BY merged_at DESC"
NEW_EVENT = """
INSERT INTO events (name, starts_at, venue_id, category, performers, status, timezone,
    start_date)
SELECT %(name)s, starts_at, venue_id, category, performers, status, timezone, start_date
FROM events WHERE id = %(s)s RETURNING id
"""
#: a split that undoes a merge brings the merged-away id back
REVIVE_EVENT = """
INSERT INTO events (id, name, starts_at, venue_id, category, performers, status, timezone,
    start_date) OVERRIDING SYSTEM VALUE
SELECT %(id)s, %(name)s, starts_at, venue_id, category, performers, status, timezone, start_date
FROM events WHERE id = %(s)s RETURNING id
"""
SPLIT_SOURCES = """
UPDATE event_sources SET event_id = %(o)s WHERE event_id = %(s)s
  AND (marketplace, source_event_id) IN (SELECT * FROM unnest(%(mks)s::text[], %(sids)s::text[]))
"""
SPLIT_BY_SOURCE = [f"""
UPDATE {t} SET event_id = %(o)s WHERE event_id = %(s)s
  AND (marketplace, source_event_id) IN (SELECT * FROM unnest(%(mks)s::text[], %(sids)s::text[]))
""" for t in ("listings_current", "listing_snapshots", "event_price_stats")]
#: rollups are per marketplace: they follow a marketplace that leaves the survivor entirely
SPLIT_ROLLUPS = """
UPDATE listing_rollups_hourly SET event_id = %(o)s WHERE event_id = %(s)s
  AND marketplace = ANY(%(mks)s::text[])
  AND NOT EXISTS (SELECT 1 FROM event_sources es WHERE es.event_id = %(s)s
                  AND es.marketplace = listing_rollups_hourly.marketplace)
"""
RESTORE_WATCH = """
INSERT INTO watchlists (id, user_id, event_id, note, kind) OVERRIDING SYSTEM VALUE
VALUES (%(id)s, %(user)s, %(o)s, %(note)s, 'event') ON CONFLICT DO NOTHING
"""
UNMOVE_WATCHES = ("UPDATE watchlists SET event_id = %(o)s "
                  "WHERE event_id = %(s)s AND id = ANY(%(ids)s)")
UNMOVE_RULES = ("UPDATE alert_rules SET event_id = %(o)s "
                "WHERE event_id = %(s)s AND id = ANY(%(ids)s)")
REPOINT_BACK = "UPDATE alert_rules SET watchlist_id = %(w)s WHERE id = ANY(%(ids)s)"
RESTORE_RULE = """
INSERT INTO alert_rules OVERRIDING SYSTEM VALUE
SELECT * FROM jsonb_populate_record(NULL::alert_rules, %(row)s) ON CONFLICT DO NOTHING
"""
DROP_REDIRECT = "DELETE FROM event_redirects WHERE old_id = %s"
