-- Alerts (owned by engine/alerts): the dispatcher counts each recipient's messages sent
-- today (the daily cap) for every person in a claimed batch. Without this index that count
-- walks all of a person's sent rows since the beginning; with it, only today's.
CREATE INDEX alert_outbox_sent_today_idx ON alert_outbox (user_id, channel, sent_at)
    WHERE status = 'sent' AND merged_into IS NULL;
