-- Alerts (owned by engine/alerts, issue 19): the webhook channel. A user's endpoints (URL,
-- what it wants, a Slack/Discord preset, the signing secret and the previous one during a
-- rotation's overlap), each outbox row of the 'webhook' channel aimed at one endpoint, and
-- the delivery log (every HTTP attempt with its status code and response time).
CREATE TABLE webhook_endpoints (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id               bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                   text NOT NULL,
    description           text,
    events                text[] NOT NULL DEFAULT '{alert.triggered}',
    format                text NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'slack', 'discord')),
    enabled               boolean NOT NULL DEFAULT true,
    secret                text NOT NULL,           -- whsec_...; shown to the user once
    previous_secret       text,                    -- still signs until previous_expires_at
    previous_expires_at   timestamptz,
    disabled_reason       text,
    disabled_at           timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_user_idx ON webhook_endpoints (user_id) WHERE enabled;

ALTER TABLE alert_outbox
    ADD COLUMN endpoint_id bigint REFERENCES webhook_endpoints (id) ON DELETE CASCADE;

CREATE TABLE webhook_deliveries (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id    bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    outbox_id      bigint REFERENCES alert_outbox (id) ON DELETE SET NULL,
    webhook_id     text NOT NULL,                  -- the payload's id (idempotency id)
    event_type     text NOT NULL,
    attempt        integer NOT NULL,
    status_code    integer,                        -- NULL: no HTTP answer (refused, timeout)
    response_ms    real,
    ok             boolean NOT NULL,
    error          text,
    attempted_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);

ALTER TABLE alert_user_channels DROP CONSTRAINT IF EXISTS alert_user_channels_channel_check;
ALTER TABLE alert_user_channels ADD CONSTRAINT alert_user_channels_channel_check
    CHECK (channel IN ('email', 'sms', 'webhook'));
