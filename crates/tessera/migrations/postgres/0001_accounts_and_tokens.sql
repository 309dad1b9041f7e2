-- Accounts, personal access tokens and their audit log (PostgreSQL).

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    username      TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
-- Case-insensitive uniqueness: "Alice" and "alice" are the same person to a human.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE personal_access_tokens (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_prefix TEXT NOT NULL,
    token_hash   BYTEA NOT NULL,         -- SHA-256 of the whole token; the token itself is never stored
    scopes       TEXT NOT NULL,          -- JSON array of canonical scopes, in grant order
    allowed_ips  TEXT,                   -- JSON array of CIDRs; NULL means any address
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX personal_access_tokens_hash_key ON personal_access_tokens (token_hash);
CREATE INDEX personal_access_tokens_prefix_idx ON personal_access_tokens (token_prefix);
CREATE INDEX personal_access_tokens_user_idx ON personal_access_tokens (user_id, created_at);

CREATE TABLE pat_audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_id    UUID NOT NULL REFERENCES personal_access_tokens (id) ON DELETE CASCADE,
    occurred_at TIMESTAMPTZ NOT NULL,
    ip          TEXT NOT NULL,
    method      TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    authorized  BOOLEAN NOT NULL,
    reason      TEXT
);
CREATE INDEX pat_audit_log_token_idx ON pat_audit_log (token_id, occurred_at DESC, id DESC);
