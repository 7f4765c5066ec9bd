-- Engine (engine.deals.valuation): the fair-price model published for the API, which may not
-- import the engine, so it can value any seat (listed or not). One model version's seat
-- effects (per venue, section and row) and per-tier interval and quantity effects, written
-- when a model is trained; each event's price level, refreshed on the forecast schedule.
-- All effects are natural logs of price ratios.

CREATE TABLE fair_price_models (
    version         text PRIMARY KEY,
    trained_at      timestamptz NOT NULL,
    published_at    timestamptz NOT NULL,
    interval_level  real NOT NULL CHECK (interval_level > 0 AND interval_level < 1),
    interval_basis  text NOT NULL CHECK (interval_basis IN ('sales', 'asks'))
);

CREATE TABLE fair_price_seats (
    model_version   text NOT NULL REFERENCES fair_price_models (version) ON DELETE CASCADE,
    venue           text NOT NULL,     -- the model's venue key: "name|category"
    section         text NOT NULL,     -- upper-cased as the crawler normalises it
    "row"           text NOT NULL,     -- upper-cased; '?' = a row the model has not seen
    tier            text NOT NULL,
    seat_effect     real NOT NULL,     -- the seat vs the venue's median section's typical row
    section_effect  real NOT NULL,     -- the section's typical row vs the venue's median
    row_effect      real NOT NULL,     -- the row vs its section's typical row
    PRIMARY KEY (model_version, venue, section, "row")
);

CREATE TABLE fair_price_tiers (
    model_version     text NOT NULL REFERENCES fair_price_models (version) ON DELETE CASCADE,
    tier              text NOT NULL,   -- a section tier, or '*' for the pooled interval
    center            real NOT NULL,   -- interval offsets from the model's estimate
    low               real NOT NULL,
    high              real NOT NULL,
    calibration_n     integer NOT NULL,
    quantity_effects  real[] NOT NULL, -- [q] for q = 1..12 tickets (more: the last)
    PRIMARY KEY (model_version, tier)
);

CREATE TABLE fair_price_levels (
    event_id       bigint PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    model_version  text NOT NULL REFERENCES fair_price_models (version) ON DELETE CASCADE,
    computed_at    timestamptz NOT NULL,
    venue          text NOT NULL,
    log_level      real NOT NULL,      -- the venue's median seat at this event, now
    listings       integer NOT NULL,   -- current listings the level rests on
    days_to_event  real,
    tier_effects   jsonb NOT NULL      -- {"lower": -0.02, ...}: days-to-event effect per tier
);
