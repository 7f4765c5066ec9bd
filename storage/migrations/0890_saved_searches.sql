-- Saved searches (owned by the API and the alert matcher): a search of the dashboard or the
-- API kept with a name, "new since you last looked", and optional alerts matched in SQL per
-- committed batch beside the rules (storage/alerts/saved_matching.py).
CREATE TABLE saved_searches (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    q                text,
    -- whole words of q (lower case), the matcher's index into text searches
    q_terms          text[] GENERATED ALWAYS AS (
                         CASE WHEN q IS NULL THEN NULL
                              ELSE tsvector_to_array(to_tsvector('simple', q)) END) STORED,
    starts_after     timestamptz,
    starts_before    timestamptz,
    category         text,
    city             text,
    venue_id         bigint REFERENCES venues (id) ON DELETE SET NULL,
    marketplace      text COLLATE "C",
    min_price_cents  bigint,
    max_price_cents  bigint,
    quantity         integer NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 20),
    min_deal_score   real,
    sort             text NOT NULL DEFAULT 'date' CHECK (sort IN ('date', 'price', 'deal')),
    -- alerting: a new matching event, and/or a listing meeting the price and score conditions
    alert_new_events boolean NOT NULL DEFAULT false,
    alert_listings   boolean NOT NULL DEFAULT false,
    channels         text[] NOT NULL DEFAULT '{email}',
    last_viewed_at   timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- A search text as an ILIKE pattern matching it anywhere, its wildcards escaped (as
-- storage/events/filters.py writes it for a search).
CREATE FUNCTION ripcity_like_pattern(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT '%' || replace(replace(replace(t, '\', '\\'), '%', '\%'), '_', '\_') || '%'
$$;
CREATE INDEX saved_searches_user_idx ON saved_searches (user_id, id);

-- The matcher's candidate lookups for the events a batch touched: by venue, city,
-- category, words of the text, and the few alerting searches narrowed by none of these.
CREATE INDEX saved_searches_venue_idx ON saved_searches (venue_id)
    WHERE (alert_new_events OR alert_listings) AND venue_id IS NOT NULL;
CREATE INDEX saved_searches_city_idx ON saved_searches (lower(city))
    WHERE (alert_new_events OR alert_listings) AND city IS NOT NULL AND venue_id IS NULL;
CREATE INDEX saved_searches_category_idx ON saved_searches (lower(category))
    WHERE (alert_new_events OR alert_listings) AND category IS NOT NULL AND city IS NULL
          AND venue_id IS NULL;
CREATE INDEX saved_searches_terms_idx ON saved_searches USING gin (q_terms)
    WHERE (alert_new_events OR alert_listings) AND q_terms IS NOT NULL AND category IS NULL
          AND city IS NULL AND venue_id IS NULL;
CREATE INDEX saved_searches_broad_idx ON saved_searches (id)
    WHERE (alert_new_events OR alert_listings) AND q IS NULL AND category IS NULL
          AND city IS NULL AND venue_id IS NULL;

-- A saved search's matches share the rules' match log and outbox (same dedupe, coalescing,
-- quiet hours and dispatch); they name the search instead of a rule.
ALTER TABLE alert_matches
    ADD COLUMN saved_search_id bigint REFERENCES saved_searches (id) ON DELETE SET NULL;
CREATE INDEX alert_matches_saved_search_idx ON alert_matches (saved_search_id, matched_at)
    WHERE saved_search_id IS NOT NULL;
ALTER TABLE alert_outbox
    ADD COLUMN saved_search_id bigint REFERENCES saved_searches (id) ON DELETE SET NULL;
