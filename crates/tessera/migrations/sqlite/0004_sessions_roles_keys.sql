-- Accounts done right (SQLite): roles and profile fields, login sessions with rotating refresh
-- tokens, JWT signing keys shared by every instance, and brute-force bookkeeping.

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'data_entry'
    CHECK (role IN ('admin', 'manager', 'therapist', 'social_worker', 'coordinator', 'data_entry'));
ALTER TABLE users ADD COLUMN first_name TEXT;
ALTER TABLE users ADD COLUMN last_name TEXT;
ALTER TABLE users ADD COLUMN phone_number TEXT;
ALTER TABLE users ADD COLUMN department TEXT;
ALTER TABLE users ADD COLUMN specialization TEXT;
ALTER TABLE users ADD COLUMN last_login TEXT;

-- One row per login: every refresh token descended from that login belongs to it, so ending it
-- (logout, reuse detection, password change) ends the whole family at once.
CREATE TABLE auth_sessions (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,          -- no refresh past this, however often it rotated
    ended_at     TEXT,
    end_reason   TEXT,
    ip           TEXT NOT NULL,
    user_agent   TEXT
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id, created_at);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL, -- SHA-256 of the token; the token itself is never stored
    session_id BLOB NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    spent_at   TEXT
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Ed25519 keys for access JWTs. The private key is sealed (XChaCha20-Poly1305) with a key derived
-- from SECRET_KEY; the newest unretired key signs, retired ones verify until their tokens expire.
CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY NOT NULL,
    public_key         BLOB NOT NULL,
    private_key_sealed BLOB NOT NULL,
    created_at         TEXT NOT NULL,
    retired_at         TEXT
);

-- Failed-login counters, per account (keyed by the login as typed, so unknown accounts are
-- counted exactly like real ones) and per client IP.
CREATE TABLE login_failures (
    subject         TEXT PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL,
    last_failure_at TEXT NOT NULL,
    locked_until    TEXT
);

CREATE TABLE security_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at TEXT NOT NULL,
    kind        TEXT NOT NULL,
    user_id     BLOB REFERENCES users (id) ON DELETE SET NULL,
    session_id  BLOB,
    ip          TEXT,
    detail      TEXT
);
CREATE INDEX security_events_user_idx ON security_events (user_id, occurred_at);
