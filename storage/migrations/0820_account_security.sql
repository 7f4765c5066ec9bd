-- Account security (issue 16): verified email and phone, per-user unsubscribe material,
-- one-time account tokens (email verification, "revoke every API key" from a reset email).

-- An alert or notice goes to an address only once its owner clicked the emailed link.
-- Accounts made before verification existed keep receiving what they received (their
-- address is taken as verified from their creation); new ones start unverified.
ALTER TABLE users
    ADD COLUMN email_verified_at timestamptz,
    ADD COLUMN phone_verified_at timestamptz,
    -- Random material mixed into each unsubscribe link (HMAC under the site key), so a link
    -- cannot be made from the user id alone even by someone who knows the key; replacing it
    -- withdraws every link sent before.
    ADD COLUMN unsubscribe_key text NOT NULL
        DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
UPDATE users SET email_verified_at = created_at;

-- A phone number is verified for one account at a time (STOP from it opts out that one).
CREATE UNIQUE INDEX users_verified_phone_key ON users (phone) WHERE phone_verified_at IS NOT NULL;

CREATE TABLE account_tokens (
    token_hash  text PRIMARY KEY,              -- sha256 of the emailed token
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('verify_email', 'revoke_keys')),
    email       text,                          -- verify_email: the address it proves
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
