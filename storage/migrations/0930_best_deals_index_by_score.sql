-- "Best deals right now" (storage.listings.best_deals) keyed by the score alone: every new
-- listing and every price change (a non-HOT update) inserts into this index, and with the
-- (marketplace, listing_id) tie-break in its key it cost 3 us of CPU per row, a third of
-- inserting a listing (1.9 us keyed by the score alone; measured on 200k rows). The query's
-- order is unchanged: an incremental sort breaks the rare ties in score within the LIMIT.
DROP INDEX api_listings_current_best_deals_idx;
CREATE INDEX api_listings_current_best_deals_idx ON listings_current (deal_score DESC)
    WHERE gone_at IS NULL AND deal_score IS NOT NULL;
