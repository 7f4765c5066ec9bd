-- API (owned by the API): a rule's "last fired" is read from the match log (the matcher
-- writes every match to alert_matches and never sets alert_rules.last_fired_at). The index
-- serves that per-rule lookup and spares deleting a rule (ON DELETE SET NULL) a scan of
-- every match.
CREATE INDEX alert_matches_rule_idx ON alert_matches (rule_id, matched_at)
    WHERE rule_id IS NOT NULL;
