-- Alerts (owned by engine/alerts): the two remaining rule kinds, the match log that makes
-- matching idempotent, per-user channel state (opt-out, permanent failure, last send),
-- quiet-hour and plan helpers, and the indexes that let the matcher find the rules of the
-- changed events without scanning every rule.

-- Rule kinds: get-in price drops are 'drop_percent' (percent or cents within a window),
-- 'back_in_stock' fires when a sold-out event has listings again.
ALTER TABLE alert_rules DROP CONSTRAINT IF EXISTS alert_rules_kind_check;
ALTER TABLE alert_rules
    ADD CONSTRAINT alert_rules_kind_check CHECK (kind IN (
        'price_at_or_below', 'drop_percent', 'deal_score_at_least',
        'new_listing_in_section', 'back_in_stock')),
    ADD COLUMN drop_cents      bigint,
    ADD COLUMN window_seconds  integer NOT NULL DEFAULT 86400;

-- Rule index: by event (and threshold, so a price change probes only the rules it meets),
-- and by the other targets, each resolved to the changed events at match time.
CREATE INDEX alert_rules_event_price_idx ON alert_rules (event_id, threshold_cents)
    WHERE active AND kind = 'price_at_or_below';
CREATE INDEX alert_rules_event_kind_idx ON alert_rules (event_id, kind) WHERE active;
CREATE INDEX alert_rules_venue_idx ON alert_rules (venue_id) WHERE active AND venue_id IS NOT NULL;
CREATE INDEX alert_rules_performer_idx ON alert_rules (lower(performer))
    WHERE active AND performer IS NOT NULL;
CREATE INDEX alert_rules_watchlist_idx ON alert_rules (watchlist_id)
    WHERE active AND watchlist_id IS NOT NULL;
CREATE INDEX alert_rules_any_watched_idx ON alert_rules (user_id)
    WHERE active AND event_id IS NULL AND watchlist_id IS NULL AND performer IS NULL
          AND venue_id IS NULL;
CREATE INDEX IF NOT EXISTS watchlists_venue_idx ON watchlists (venue_id) WHERE venue_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS watchlists_performer_idx ON watchlists (lower(performer))
    WHERE performer IS NOT NULL;

-- Every match once: (rule, listing, price) or (rule, event, get-in price / restock time).
-- Written in the same transaction as the outbox row that carries it.
CREATE TABLE alert_matches (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key   text NOT NULL UNIQUE,
    rule_id      bigint REFERENCES alert_rules (id) ON DELETE SET NULL,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id     bigint,
    observed_at  timestamptz NOT NULL,     -- when the change was observed (data time)
    matched_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX alert_matches_user_idx ON alert_matches (user_id, matched_at);

-- Several outbox rows sent as one message point at the row whose key the message carries.
ALTER TABLE alert_outbox
    ADD COLUMN merged_into       bigint,
    ADD COLUMN provider_id       text,
    ADD COLUMN provider_status   text,
    ADD COLUMN idempotency_key   text;
CREATE INDEX alert_outbox_user_idx ON alert_outbox (user_id, channel, status);
CREATE INDEX alert_outbox_provider_idx ON alert_outbox (provider_id) WHERE provider_id IS NOT NULL;

-- Each send attempt: 'sending' is committed before the provider is called, 'sent' / 'failed'
-- after; a 'sending' row left by a killed dispatcher is checked before any resend.
ALTER TABLE alert_deliveries
    ADD COLUMN idempotency_key  text,
    ADD COLUMN provider_status  text,
    ADD COLUMN finished_at      timestamptz;
CREATE INDEX alert_deliveries_key_idx ON alert_deliveries (idempotency_key);
CREATE INDEX alert_deliveries_provider_idx ON alert_deliveries (provider_id)
    WHERE provider_id IS NOT NULL;

-- Per user and channel: opted out (STOP / unsubscribe), disabled after a permanent failure
-- (the reason is shown on the dashboard), and when the last message went out (coalescing).
CREATE TABLE alert_user_channels (
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel          text NOT NULL CHECK (channel IN ('email', 'sms')),
    opted_out        boolean NOT NULL DEFAULT false,
    opted_out_at     timestamptz,
    disabled_reason  text,
    disabled_at      timestamptz,
    last_sent_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, channel)
);

ALTER TABLE users
    ADD COLUMN timezone         text,       -- IANA zone for quiet hours and the daily cap
    ADD COLUMN daily_alert_cap  integer;    -- NULL = RIPCITY_ALERT_DAILY_CAP
CREATE INDEX IF NOT EXISTS users_phone_idx ON users (phone) WHERE phone IS NOT NULL;

-- Get-in price (cheapest active listing) per event over time, and whether it is sold out.
CREATE TABLE alert_event_state (
    event_id      bigint PRIMARY KEY,
    get_in_cents  bigint,                   -- NULL = no active listing (sold out)
    changed_at    timestamptz NOT NULL
);
CREATE TABLE alert_get_in_history (
    event_id      bigint NOT NULL,
    observed_at   timestamptz NOT NULL,
    get_in_cents  bigint NOT NULL,
    PRIMARY KEY (event_id, observed_at)
);

-- The same rule as api/plans.py: premium by plan column or a paid-up subscription.
CREATE FUNCTION alert_user_is_premium(uid bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = uid AND u.plan = 'premium')
        OR EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = uid
                   AND s.status IN ('active', 'trialing', 'past_due') AND s.plan <> 'free')
$$;

-- When a message matched at ``at`` may go out: ``at`` itself, or the end of the quiet
-- hours [qs, qe) in zone tz that contain it (qs > qe spans midnight).
CREATE FUNCTION alert_quiet_until(at timestamptz, qs time, qe time, tz text)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    local_ts timestamp;
    t time;
BEGIN
    IF qs IS NULL OR qe IS NULL OR qs = qe THEN
        RETURN at;
    END IF;
    BEGIN
        local_ts := at AT TIME ZONE coalesce(tz, 'UTC');
    EXCEPTION WHEN invalid_parameter_value THEN   -- unknown zone: treat as UTC
        tz := 'UTC';
        local_ts := at AT TIME ZONE 'UTC';
    END;
    t := local_ts::time;
    IF qs < qe THEN
        IF t >= qs AND t < qe THEN
            RETURN (local_ts::date + qe) AT TIME ZONE coalesce(tz, 'UTC');
        END IF;
    ELSIF t >= qs THEN
        RETURN (local_ts::date + 1 + qe) AT TIME ZONE coalesce(tz, 'UTC');
    ELSIF t < qe THEN
        RETURN (local_ts::date + qe) AT TIME ZONE coalesce(tz, 'UTC');
    END IF;
    RETURN at;
END $$;

-- Dispatchers LISTEN on ripcity_alerts; the matcher notifies when it writes outbox rows.
