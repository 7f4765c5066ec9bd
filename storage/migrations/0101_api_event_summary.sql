-- API (owned by api/): per-event get-in price, listing count and best deal score, so event
-- search and its price sort / filters do not aggregate every listing of every event. Kept
-- current by the API's ingest listener (api.lib.invalidation), which calls
-- api_refresh_event_summary() for the events each NOTIFY ripcity_listings names, and for all
-- events when it (re)connects.

CREATE TABLE api_event_summary (
    event_id         bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    get_in_cents     bigint,            -- cheapest all-in ticket live now; NULL = none
    listing_count    integer NOT NULL,
    best_deal_score  real,
    refreshed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_event_summary_get_in_idx ON api_event_summary (get_in_cents);

-- Recompute the summaries of the given events from listings_current; returns how many.
CREATE FUNCTION api_refresh_event_summary(ids bigint[]) RETURNS integer
LANGUAGE sql AS $$
    WITH agg AS (
        SELECT event_id, min(total_cents) AS get_in, count(*)::int AS n,
               max(deal_score) AS best
        FROM listings_current
        WHERE event_id = ANY(ids) AND gone_at IS NULL
        GROUP BY event_id
    ), up AS (
        INSERT INTO api_event_summary AS s
            (event_id, get_in_cents, listing_count, best_deal_score, refreshed_at)
        SELECT e.id, a.get_in, coalesce(a.n, 0), a.best, now()
        FROM events e LEFT JOIN agg a ON a.event_id = e.id
        WHERE e.id = ANY(ids)
        ON CONFLICT (event_id) DO UPDATE SET
            get_in_cents = excluded.get_in_cents, listing_count = excluded.listing_count,
            best_deal_score = excluded.best_deal_score, refreshed_at = excluded.refreshed_at
        RETURNING 1
    )
    SELECT count(*)::int FROM up
$$;
