-- Alerts (owned by engine/alerts): the matcher looks up, for the events a batch touched,
-- the rules of every kind but price targets (those have their own threshold index). With
-- only the (event_id, kind) index the planner read all of alert_rules instead (~9 ms per
-- batch at 100,000 rules, growing with them); this partial index holds just those rules.
CREATE INDEX alert_rules_event_other_kinds_idx ON alert_rules (event_id)
    WHERE active AND kind <> 'price_at_or_below';
