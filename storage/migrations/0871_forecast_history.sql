-- Engine (engine.deals.forecasting): every buy-or-wait forecast ever made, graded once its
-- horizon has passed against the get-in price the rollups saw then, for the public track
-- record (GET /api/v1/forecasts/accuracy). Times are in the price series' clock (as_of).

CREATE TABLE forecast_history (
    id                  bigserial PRIMARY KEY,
    event_id            bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    computed_at         timestamptz NOT NULL,
    as_of               timestamptz NOT NULL,   -- the series' time the forecast starts from
    due_at              timestamptz NOT NULL,   -- as_of + horizon: when it can be graded
    horizon_days        real NOT NULL,
    advice              text NOT NULL CHECK (advice IN ('wait', 'buy now')),
    probability_lower   real NOT NULL CHECK (probability_lower >= 0 AND probability_lower <= 1),
    get_in_cents        bigint NOT NULL,
    days_to_event       real,
    model_version       text NOT NULL,
    graded_at           timestamptz,
    later_get_in_cents  bigint,                 -- the get-in price at due_at
    was_lower           boolean,                -- the outcome: later < get_in
    UNIQUE (event_id, as_of, model_version)
);
CREATE INDEX forecast_history_due_idx ON forecast_history (due_at) WHERE graded_at IS NULL;
CREATE INDEX forecast_history_graded_idx ON forecast_history (graded_at) WHERE graded_at IS NOT NULL;
