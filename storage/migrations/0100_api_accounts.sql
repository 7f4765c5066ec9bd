-- API (owned by api/): browser sessions and password resets, watchlists of performers and
-- venues as well as events, richer alert rules (sections, quiet hours, watchlist targets),
-- a global index for "best deals", and cache invalidation: every write to listings_current
-- sends NOTIFY ripcity_listings '<event ids>' so API processes drop stale cached reads.

CREATE TABLE api_sessions (
    token_hash    text PRIMARY KEY,            -- sha256 of the cookie value, never the value
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    user_agent    text
);
CREATE INDEX api_sessions_user_idx ON api_sessions (user_id);

CREATE TABLE password_resets (
    token_hash  text PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);

-- A watchlist entry follows one event, every event of a performer, or of a venue.
ALTER TABLE watchlists
    ALTER COLUMN event_id DROP NOT NULL,
    ADD COLUMN kind text NOT NULL DEFAULT 'event',
    ADD COLUMN performer text,
    ADD COLUMN venue_id bigint REFERENCES venues (id) ON DELETE CASCADE,
    ADD CONSTRAINT watchlists_kind_chk CHECK (kind IN ('event', 'performer', 'venue')),
    ADD CONSTRAINT watchlists_target_chk CHECK (
        (kind = 'event' AND event_id IS NOT NULL)
        OR (kind = 'performer' AND performer IS NOT NULL)
        OR (kind = 'venue' AND venue_id IS NOT NULL));
CREATE UNIQUE INDEX watchlists_user_performer_key ON watchlists (user_id, lower(performer))
    WHERE kind = 'performer';
CREATE UNIQUE INDEX watchlists_user_venue_key ON watchlists (user_id, venue_id)
    WHERE kind = 'venue';
CREATE INDEX watchlists_user_idx ON watchlists (user_id, id);

-- Alert rules may target a watchlist entry, a performer or a venue (event_id stays for one
-- event), several sections, and stay silent in quiet hours (local time of quiet_timezone).
ALTER TABLE alert_rules
    ADD COLUMN watchlist_id    bigint REFERENCES watchlists (id) ON DELETE CASCADE,
    ADD COLUMN performer       text,
    ADD COLUMN venue_id        bigint REFERENCES venues (id) ON DELETE CASCADE,
    ADD COLUMN sections        text[],
    ADD COLUMN quiet_start     time,
    ADD COLUMN quiet_end       time,
    ADD COLUMN quiet_timezone  text,
    ADD COLUMN updated_at      timestamptz NOT NULL DEFAULT now();

-- "Best deals right now" across all events, without sorting every listing.
CREATE INDEX api_listings_current_best_deals_idx
    ON listings_current (deal_score DESC, marketplace, listing_id)
    WHERE gone_at IS NULL AND deal_score IS NOT NULL;

-- Cache invalidation: one notification per statement naming the events it touched.
CREATE FUNCTION api_notify_listings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids text;
BEGIN
    -- DISTINCT on the bigint (a hash aggregate), not on its text (a sort): ~5x cheaper for
    -- the 50k-row statements of an ingest batch.
    SELECT string_agg(event_id::text, ',') INTO ids
    FROM (SELECT DISTINCT event_id FROM changed) d;
    IF ids IS NOT NULL THEN
        PERFORM pg_notify('ripcity_listings', left(ids, 7900));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER api_listings_current_inserted AFTER INSERT ON listings_current
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION api_notify_listings();
CREATE TRIGGER api_listings_current_updated AFTER UPDATE ON listings_current
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION api_notify_listings();
CREATE TRIGGER api_listings_current_deleted AFTER DELETE ON listings_current
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION api_notify_listings();
