-- The saved-search matcher's candidates follow the changes (storage/alerts/_saved_sql.py):
-- an event the matcher already knows is a candidate only of the searches whose listing
-- price ceiling its cheapest new or cheaper listing meets (a new event: of every alerting
-- search). Each candidate index carries that ceiling, so a broad or busy key (a category,
-- a city, no key at all) is read only as far as the batch's prices reach.
-- alert_ceiling: what a listing must cost at most to alert; -1 = no listing alerts.
ALTER TABLE saved_searches ADD COLUMN alert_ceiling bigint GENERATED ALWAYS AS (
    CASE WHEN alert_listings THEN coalesce(max_price_cents, 9223372036854775807)
         ELSE -1 END) STORED;

DROP INDEX saved_searches_venue_idx, saved_searches_city_idx, saved_searches_category_idx,
    saved_searches_broad_idx;
CREATE INDEX saved_searches_venue_idx ON saved_searches (venue_id, alert_ceiling)
    WHERE (alert_new_events OR alert_listings) AND venue_id IS NOT NULL;
CREATE INDEX saved_searches_city_idx ON saved_searches (lower(city), alert_ceiling)
    WHERE (alert_new_events OR alert_listings) AND city IS NOT NULL AND venue_id IS NULL;
CREATE INDEX saved_searches_category_idx ON saved_searches (lower(category), alert_ceiling)
    WHERE (alert_new_events OR alert_listings) AND category IS NOT NULL AND city IS NULL
          AND venue_id IS NULL;
CREATE INDEX saved_searches_broad_idx ON saved_searches (alert_ceiling)
    WHERE (alert_new_events OR alert_listings) AND q IS NULL AND category IS NULL
          AND city IS NULL AND venue_id IS NULL;

-- Searches are saved one at a time and read by every batch: the words index takes each
-- new search at once instead of keeping a pending list that every lookup scans.
ALTER INDEX saved_searches_terms_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('saved_searches_terms_idx'::regclass);
