-- Alerts (owned by engine/alerts): each channel's lane of a dispatcher claims only its own
-- due rows (``storage.alerts.outbox.claim_due`` with a channel filter), so a backlog of one
-- channel (a burst of emails, rows deferred by coalescing) is not walked by another
-- channel's claims.
CREATE INDEX alert_outbox_channel_due_idx ON alert_outbox (channel, next_attempt_at, id)
    WHERE status = 'pending';
