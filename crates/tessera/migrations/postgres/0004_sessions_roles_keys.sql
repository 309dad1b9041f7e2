-- Accounts done right (PostgreSQL): roles and profile fields, login sessions with rotating refresh
-- tokens, JWT signing keys shared by every instance, and brute-force bookkeeping.

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'data_entry'
    CHECK (role IN ('admin', 'manager', 'therapist', 'social_worker', 'coordinator', 'data_entry'));
ALTER TABLE users ADD COLUMN first_name TEXT;
ALTER TABLE users ADD COLUMN last_name TEXT;
ALTER TABLE users ADD COLUMN phone_number TEXT;
ALTER TABLE users ADD COLUMN department TEXT;
ALTER TABLE users ADD COLUMN specialization TEXT;
ALTER TABLE users ADD COLUMN last_login TIMESTAMPTZ;

-- One row per login: every refresh token descended from that login belongs to it, so ending it
-- (logout, reuse detection, password change) ends the whole family at once.
CREATE TABLE auth_sessions (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,   -- no refresh past this, however often it rotated
    ended_at     TIMESTAMPTZ,
    end_reason   TEXT,
    ip           TEXT NOT NULL,
    user_agent   TEXT
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id, created_at);

CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,         -- SHA-256 of the token; the token itself is never stored
    session_id UUID NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    spent_at   TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Ed25519 keys for access JWTs. The private key is sealed (XChaCha20-Poly1305) with a key derived
-- from SECRET_KEY; the newest unretired key signs, retired ones verify until their tokens expire.
CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    public_key         BYTEA NOT NULL,
    private_key_sealed BYTEA NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    retired_at         TIMESTAMPTZ
);

-- Failed-login counters, per account (keyed by the login as typed, so unknown accounts are
-- counted exactly like real ones) and per client IP.
CREATE TABLE login_failures (
    subject         TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ
);

CREATE TABLE security_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL,
    kind        TEXT NOT NULL,
    user_id     UUID REFERENCES users (id) ON DELETE SET NULL,
    session_id  UUID,
    ip          TEXT,
    detail      TEXT
);
CREATE INDEX security_events_user_idx ON security_events (user_id, occurred_at);
