-- Account (owned by the API): quiet hours are a setting of the person, not only of a rule.
-- The account default lives on users; a rule created without quiet hours of its own takes
-- it (the matcher reads quiet hours from the rule, falling back to users.timezone).
ALTER TABLE users
    ADD COLUMN quiet_start  time,
    ADD COLUMN quiet_end    time;

-- Accounts whose rules all share one quiet window (the dashboard used to copy it onto every
-- rule) keep it as their default.
UPDATE users u SET quiet_start = q.quiet_start, quiet_end = q.quiet_end
FROM (SELECT user_id, min(quiet_start) AS quiet_start, min(quiet_end) AS quiet_end
      FROM alert_rules GROUP BY user_id
      HAVING count(DISTINCT (quiet_start, quiet_end)) = 1
         AND bool_and(quiet_start IS NOT NULL AND quiet_end IS NOT NULL)) q
WHERE u.id = q.user_id;
