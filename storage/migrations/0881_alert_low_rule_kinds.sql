-- Alerts (owned by engine/alerts, issue 19): three more rule kinds on the event's get-in
-- price (alert_get_in_history): 'new_low' (lower than every earlier get-in price, since
-- tracking began or within low_window_seconds), 'near_low' (within near_percent % of that
-- low), 'keeps_dropping' (drop_count consecutive drops). They are matched per committed
-- batch for the events it touched through alert_rules_event_other_kinds_idx.
ALTER TABLE alert_rules DROP CONSTRAINT IF EXISTS alert_rules_kind_check;
ALTER TABLE alert_rules
    ADD CONSTRAINT alert_rules_kind_check CHECK (kind IN (
        'price_at_or_below', 'drop_percent', 'deal_score_at_least',
        'new_listing_in_section', 'back_in_stock', 'new_low', 'near_low', 'keeps_dropping')),
    ADD COLUMN low_window_seconds  integer,        -- NULL = since tracking began
    ADD COLUMN near_percent        numeric(5, 2),
    ADD COLUMN drop_count          integer;
-- keeps_dropping reads an event's last N get-in changes newest first: a backward scan of
-- alert_get_in_history's primary key (event_id, observed_at).
