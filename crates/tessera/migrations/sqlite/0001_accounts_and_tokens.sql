-- Accounts, personal access tokens and their audit log (SQLite).
-- Ids are UUIDv7 stored as 16-byte BLOBs; timestamps are fixed-width UTC text
-- (YYYY-MM-DDTHH:MM:SS.ffffffZ), so text order is time order.

CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
-- Case-insensitive uniqueness: "Alice" and "alice" are the same person to a human.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE personal_access_tokens (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_prefix TEXT NOT NULL,
    token_hash   BLOB NOT NULL,          -- SHA-256 of the whole token; the token itself is never stored
    scopes       TEXT NOT NULL,          -- JSON array of canonical scopes, in grant order
    allowed_ips  TEXT,                   -- JSON array of CIDRs; NULL means any address
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX personal_access_tokens_hash_key ON personal_access_tokens (token_hash);
CREATE INDEX personal_access_tokens_prefix_idx ON personal_access_tokens (token_prefix);
CREATE INDEX personal_access_tokens_user_idx ON personal_access_tokens (user_id, created_at);

CREATE TABLE pat_audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id    BLOB NOT NULL REFERENCES personal_access_tokens (id) ON DELETE CASCADE,
    occurred_at TEXT NOT NULL,
    ip          TEXT NOT NULL,
    method      TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    authorized  INTEGER NOT NULL,
    reason      TEXT
);
CREATE INDEX pat_audit_log_token_idx ON pat_audit_log (token_id, occurred_at DESC, id DESC);
