-- Core relational model: venues, canonical events and their ids on each marketplace,
-- users and everything they own (API keys, watchlists, alert rules, subscriptions),
-- the alert outbox, Stripe events and engine work requests.

CREATE TABLE ripcity_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- Name search: trigram indexes when pg_trgm can be installed, a tsvector index always.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm unavailable (%), name search uses tsvector only', SQLERRM;
        END;
    END IF;
END $$;

-- Wraps array_to_string (only STABLE) so the events.search column can be generated.
CREATE FUNCTION ripcity_event_search(name text, performers text[]) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('simple'::regconfig, name || ' ' || array_to_string(performers, ' '))
$$;

CREATE TABLE venues (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    city        text,
    timezone    text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX venues_name_city_key ON venues (lower(name), lower(coalesce(city, '')));

CREATE TABLE venue_sections (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    venue_id  bigint NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    name      text NOT NULL,          -- normalised: "112", "FLOOR", "CLUB 2", "GA"
    zone      text,
    tier      smallint,               -- 0 = floor / courtside ... higher = farther
    UNIQUE (venue_id, name)
);

CREATE TABLE venue_rows (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    section_id  bigint NOT NULL REFERENCES venue_sections (id) ON DELETE CASCADE,
    name        text NOT NULL,        -- "AA", "12"
    ordinal     smallint,             -- distance from the court / stage, 1 = front
    seat_count  smallint,
    UNIQUE (section_id, name)
);

CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    starts_at   timestamptz,          -- NULL = to be announced
    venue_id    bigint REFERENCES venues (id),
    category    text,
    performers  text[] NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'onsale',
    timezone    text,
    search      tsvector GENERATED ALWAYS AS (ripcity_event_search(name, performers)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_starts_at_idx ON events (starts_at);
CREATE INDEX events_venue_starts_idx ON events (venue_id, starts_at);
CREATE INDEX events_search_idx ON events USING gin (search);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX events_name_trgm_idx ON events USING gin (lower(name) gin_trgm_ops)';
    END IF;
END $$;

-- One event's id on each marketplace.
CREATE TABLE event_sources (
    marketplace      text COLLATE "C" NOT NULL,
    source_event_id  text COLLATE "C" NOT NULL,
    event_id         bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    url              text,
    name             text,
    venue_source_id  text,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (marketplace, source_event_id)
);
CREATE INDEX event_sources_event_idx ON event_sources (event_id);

-- Accounts --------------------------------------------------------------------------------
CREATE TABLE users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email               text NOT NULL,
    password_hash       text,
    display_name        text,
    phone               text,             -- E.164, for SMS alerts
    plan                text NOT NULL DEFAULT 'free',   -- free | premium
    stripe_customer_id  text UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prefix        text NOT NULL UNIQUE,   -- shown to the user, looked up first
    key_hash      text NOT NULL,          -- never the key itself
    name          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

CREATE TABLE watchlists (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id    bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, event_id)
);
CREATE INDEX watchlists_event_idx ON watchlists (event_id);

-- Alerts ----------------------------------------------------------------------------------
CREATE TABLE alert_rules (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id          bigint REFERENCES events (id) ON DELETE CASCADE,  -- NULL = any watched
    kind              text NOT NULL CHECK (kind IN (
                          'price_at_or_below', 'drop_percent', 'deal_score_at_least',
                          'new_listing_in_section')),
    threshold_cents   bigint,
    drop_percent      numeric(5, 2),
    min_deal_score    real,
    section           text,
    min_quantity      integer NOT NULL DEFAULT 1,
    marketplace       text COLLATE "C",
    channels          text[] NOT NULL DEFAULT '{email}',   -- email | sms
    active            boolean NOT NULL DEFAULT true,
    cooldown_seconds  integer NOT NULL DEFAULT 3600,
    last_fired_at     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_rules_event_active_idx ON alert_rules (event_id) WHERE active;
CREATE INDEX alert_rules_user_idx ON alert_rules (user_id);

-- A matched alert waiting to be sent; dedupe_key makes matching idempotent.
CREATE TABLE alert_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id          bigint REFERENCES alert_rules (id) ON DELETE SET NULL,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel          text NOT NULL,            -- email | sms
    dedupe_key       text NOT NULL UNIQUE,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending',   -- pending | sending | sent | failed
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX alert_outbox_due_idx ON alert_outbox (next_attempt_at)
    WHERE status IN ('pending', 'sending');

CREATE TABLE alert_deliveries (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id     bigint NOT NULL REFERENCES alert_outbox (id) ON DELETE CASCADE,
    channel       text NOT NULL,
    provider_id   text,                 -- Twilio message SID, SMTP message id
    status        text NOT NULL,        -- sent | failed
    error         text,
    attempted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_deliveries_outbox_idx ON alert_deliveries (outbox_id);

-- Billing ---------------------------------------------------------------------------------
CREATE TABLE subscriptions (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                 bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stripe_customer_id      text,
    stripe_subscription_id  text UNIQUE,
    price_id                text,
    plan                    text NOT NULL DEFAULT 'premium',
    status                  text NOT NULL,   -- Stripe's: active, trialing, past_due, canceled...
    current_period_end      timestamptz,
    cancel_at_period_end    boolean NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_user_idx ON subscriptions (user_id);

-- Every webhook event once: the id makes processing idempotent.
CREATE TABLE stripe_events (
    id            text PRIMARY KEY,     -- evt_...
    type          text NOT NULL,
    payload       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    error         text
);

-- Engine work requested by the API: a row plus NOTIFY refresh_requests; the engine claims it
-- with UPDATE ... WHERE claimed_at IS NULL ... FOR UPDATE SKIP LOCKED.
CREATE TABLE refresh_requests (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      bigint REFERENCES events (id) ON DELETE CASCADE,   -- NULL = everything
    marketplace   text COLLATE "C",                                              -- NULL = all
    requested_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at    timestamptz,
    claimed_by    text,
    finished_at   timestamptz,
    status        text NOT NULL DEFAULT 'pending',   -- pending | running | done | failed
    error         text
);
CREATE INDEX refresh_requests_pending_idx ON refresh_requests (requested_at)
    WHERE claimed_at IS NULL;

CREATE FUNCTION notify_refresh_request() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('refresh_requests', NEW.id::text);
    RETURN NEW;
END $$;
CREATE TRIGGER refresh_requests_notify AFTER INSERT ON refresh_requests
    FOR EACH ROW EXECUTE FUNCTION notify_refresh_request();
