-- Engine (engine.maintenance): the latest buy-now-or-wait forecast per event, written by the
-- engine's learned model so the API (which may not import the engine) can show it. One row
-- per event, replaced on every run; the dashboard falls back to its own rule without a row.

CREATE TABLE event_forecasts (
    event_id             bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    computed_at          timestamptz NOT NULL,
    direction            text NOT NULL CHECK (direction IN ('down', 'up or flat')),
    advice               text NOT NULL CHECK (advice IN ('wait', 'buy now')),
    confidence           real NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    expected_change_pct  real,            -- get-in price change expected over the horizon
    horizon_days         real NOT NULL,
    get_in_cents         bigint,          -- the get-in price the forecast started from
    model_version        text NOT NULL,
    reason               text NOT NULL
);
CREATE INDEX event_forecasts_computed_idx ON event_forecasts (computed_at);
