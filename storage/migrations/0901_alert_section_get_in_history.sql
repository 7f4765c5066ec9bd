-- Alerts (owned by engine/alerts, issue 19): new_low / near_low / keeps_dropping on a
-- section's get-in price (the cheapest live listing in it, every marketplace and quantity),
-- for rules that name sections. Kept beside alert_get_in_history, per (event, section):
-- filled per committed batch, on the events a section rule watches, for the sections the
-- batch touched and the rules' sections, a row when the section's get-in price changed
-- (so a section's history begins when a section rule first watches its event; the
-- matcher's hot path pays nothing for events no section rule watches); get_in_cents NULL =
-- the section has no live listing left. ``section`` is the normalised
-- name (upper(btrim(section))), the key the matcher compares rule sections with.
-- Not partitioned and not retained, like alert_get_in_history.
CREATE TABLE alert_section_get_in_history (
    event_id      bigint NOT NULL,
    section       text NOT NULL,
    observed_at   timestamptz NOT NULL,
    get_in_cents  bigint,
    -- the section's latest price (a backward scan) and its low since a time
    PRIMARY KEY (event_id, section, observed_at)
);
