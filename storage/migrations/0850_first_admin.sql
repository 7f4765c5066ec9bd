-- The first administrator without editing settings: on a fresh embedded install `ripcity run`
-- prints a one-time setup link (storage.setup); the dashboard's /setup page turns it into an
-- account flagged as an administrator. The operations page honours the flag besides
-- RIPCITY_ADMIN_EMAILS. A token is stored only as its SHA-256, is used at most once and
-- expires; issuing a new one withdraws the unused ones.
ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;

CREATE TABLE setup_tokens (
    token_hash  text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_by     bigint REFERENCES users (id) ON DELETE SET NULL
);
