-- First-party product analytics (owned by the API; read by the operations page): what
-- people search for (and do not find), events viewed, buy links followed, alert emails
-- opened and followed, saved searches and rules created, recommendations shown and
-- followed. The user id only (no address, agent or IP); requests with Do-Not-Track or
-- Global Privacy Control are not stored. A time series partitioned and retained like the
-- snapshots (RIPCITY_RETENTION_DAYS through storage.partitions.apply_retention).
CREATE TABLE _shape_analytics_events (
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL CHECK (kind IN (
                  'search', 'event_view', 'buy_click', 'alert_open', 'alert_click',
                  'saved_search_created', 'rule_created', 'recommendation_click')),
    user_id   bigint,
    event_id  bigint,
    -- searches: the words searched and how many events they found
    q         text,
    results   integer,
    -- alert opens and clicks: the message's idempotency key (one funnel step each)
    ref       text
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM ripcity_meta WHERE key = 'timeseries_backend'
               AND value = 'timescaledb') THEN
        CREATE TABLE analytics_events (LIKE _shape_analytics_events INCLUDING ALL);
        PERFORM create_hypertable('analytics_events', by_range('at', INTERVAL '7 days'));
        PERFORM add_retention_policy('analytics_events', INTERVAL '400 days');
    ELSE
        CREATE TABLE analytics_events (LIKE _shape_analytics_events INCLUDING ALL)
            PARTITION BY RANGE (at);
        INSERT INTO ripcity_partitioned VALUES ('analytics_events', INTERVAL '1 day');
    END IF;
END $$;
DROP TABLE _shape_analytics_events;
SELECT ripcity_ensure_partitions(now() - INTERVAL '2 days', now() + INTERVAL '7 days');

CREATE INDEX analytics_events_kind_at_idx ON analytics_events (kind, at);
CREATE INDEX analytics_events_user_idx ON analytics_events (user_id, at)
    WHERE user_id IS NOT NULL;

-- Recommendations (owned by the engine's maintenance loop, read by the API): each user's
-- current picks with a one-line reason, replaced whole on every refresh.
CREATE TABLE recommendations (
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id     bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    rank         integer NOT NULL,
    score        real NOT NULL,
    reason       text NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, rank)
);
-- The weekly email of picks is opt-in; when it last went out.
ALTER TABLE users
    ADD COLUMN picks_email          boolean NOT NULL DEFAULT false,
    ADD COLUMN picks_email_sent_at  timestamptz;
