-- Price protection (issue 19): purchases a user records, the claim windows marketplaces
-- publish, and the evidence of every cheaper same-or-better listing seen inside the window.
--
-- A purchase owns an alert rule of kind 'price_protection' (its channels, its event, the
-- price paid as threshold), so the matcher, the outbox and the dispatchers treat it like any
-- other rule: matched per committed batch, exactly once per (rule, listing, price).

ALTER TABLE alert_rules DROP CONSTRAINT IF EXISTS alert_rules_kind_check;
ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_kind_check CHECK (kind IN (
    'price_at_or_below', 'drop_percent', 'deal_score_at_least', 'new_listing_in_section',
    'back_in_stock', 'new_low', 'near_low', 'keeps_dropping', 'price_protection'));

-- Claim windows per marketplace. NULL window = no published price-drop refund (a purchase
-- there is watched only with its own claim_window_seconds). Operators may UPDATE / INSERT
-- rows; a purchase may override the window. Sources: each row's source_url / policy; the
-- policies change, so check them before relying on a window.
CREATE TABLE claim_windows (
    marketplace      text PRIMARY KEY,
    window_seconds   integer CHECK (window_seconds > 0),
    refund_percent   numeric(5, 1),
    policy           text NOT NULL,
    source_url       text
);
INSERT INTO claim_windows (marketplace, window_seconds, refund_percent, policy, source_url) VALUES
  ('gametime', 7200, 110, 'Price Drop Refund: 110% of the difference when the same tickets '
   'drop in price and you claim within 2 hours of buying', 'https://gametime.co/faq'),
  ('ticketsmarter', 259200, 100, 'Price protection: the difference refunded when the same '
   'or comparable seats are cheaper within 72 hours of buying', 'https://www.ticketsmarter.com/faq'),
  ('ticketmaster', NULL, NULL, 'No published price-drop refund', 'https://help.ticketmaster.com/'),
  ('seatgeek', NULL, NULL, 'No published price-drop refund', 'https://seatgeek.com/help'),
  ('stubhub', NULL, NULL, 'No published price-drop refund (FanProtect covers delivery, not '
   'price)', 'https://support.stubhub.com/'),
  ('eventbrite', NULL, NULL, 'No published price-drop refund; refunds follow the organiser''s '
   'policy', 'https://www.eventbrite.com/help/');

CREATE TABLE purchases (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id            bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id           bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    rule_id            bigint NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    marketplace        text NOT NULL,          -- where it was bought
    section            text NOT NULL,
    "row"              text,
    quantity           integer NOT NULL CHECK (quantity > 0),
    price_paid_cents   bigint NOT NULL CHECK (price_paid_cents > 0),   -- all-in, per ticket
    purchased_at       timestamptz NOT NULL,
    claim_ends_at      timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX purchases_user_idx ON purchases (user_id, id);
CREATE UNIQUE INDEX purchases_rule_idx ON purchases (rule_id);

-- Cheaper same-or-better listings seen inside a purchase's window: what a claim needs.
CREATE TABLE purchase_evidence (
    purchase_id    bigint NOT NULL REFERENCES purchases (id) ON DELETE CASCADE,
    marketplace    text NOT NULL,
    listing_id     text NOT NULL,
    section        text,
    "row"          text,
    quantity       integer,
    total_cents    bigint NOT NULL,            -- all-in per ticket, as listed
    observed_at    timestamptz NOT NULL,       -- the snapshot that showed it
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (purchase_id, marketplace, listing_id, total_cents)
);
