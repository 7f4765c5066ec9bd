-- Billing (owned by api/billing): what the subscription state machine needs beyond 0001.
--
-- subscriptions.status stays the one column the rest of the product reads (Stripe's
-- vocabulary; active / trialing / past_due grant premium). It is the *effective* status:
-- Stripe's own status, except that an unpaid invoice whose grace period has ended turns it
-- into 'unpaid'. Stripe's raw status is kept in stripe_status; stripe_event_at is the
-- `created` time of the newest event applied, so an older event arriving later is ignored.

ALTER TABLE subscriptions
    ADD COLUMN stripe_status            text,
    ADD COLUMN stripe_event_at          timestamptz,
    ADD COLUMN billing_interval         text,          -- month | year
    ADD COLUMN current_period_start     timestamptz,
    ADD COLUMN cancel_at                timestamptz,
    ADD COLUMN canceled_at              timestamptz,
    ADD COLUMN ended_at                 timestamptz,
    ADD COLUMN latest_invoice_id        text,
    ADD COLUMN last_paid_at             timestamptz,   -- created of the newest invoice.paid
    ADD COLUMN last_paid_invoice_id     text,
    ADD COLUMN last_payment_failed_at   timestamptz,   -- created of the newest payment failure
    ADD COLUMN grace_until              timestamptz,   -- set while an invoice is unpaid
    ADD COLUMN grace_notice_sent_at     timestamptz,
    ADD COLUMN downgrade_notice_sent_at timestamptz;

CREATE INDEX subscriptions_grace_idx ON subscriptions (grace_until)
    WHERE grace_until IS NOT NULL;
CREATE INDEX subscriptions_customer_idx ON subscriptions (stripe_customer_id);

-- What happened to each webhook event (applied, stale, duplicate-free by id in stripe_events).
ALTER TABLE stripe_events
    ADD COLUMN created_at  timestamptz,     -- the event's own `created`
    ADD COLUMN outcome     text;            -- applied | stale | ignored | logged | ...

-- Refunds and disputes: kept for people to look at (support, the dashboard), never acted
-- on automatically.
CREATE TABLE billing_incidents (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stripe_event_id     text NOT NULL UNIQUE REFERENCES stripe_events (id),
    kind                text NOT NULL,    -- refund | dispute
    event_type          text NOT NULL,
    user_id             bigint REFERENCES users (id) ON DELETE SET NULL,
    stripe_customer_id  text,
    object_id           text,             -- ch_ / re_ / dp_
    amount_cents        bigint,
    currency            text,
    reason              text,
    status              text,
    occurred_at         timestamptz NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_incidents_user_idx ON billing_incidents (user_id, occurred_at DESC);
