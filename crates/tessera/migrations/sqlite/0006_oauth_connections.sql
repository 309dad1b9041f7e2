-- OAuth connections (SQLite): OAuth client registrations, business branches, the grants they
-- hold, and pending authorization states. Every secret column holds a value sealed by
-- crate::crypto::KeyRing (key id inside the value, row id and column bound as associated data).

CREATE TABLE oauth_clients (
    id                   BLOB PRIMARY KEY NOT NULL,
    owner_id             BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    provider             TEXT NOT NULL,
    client_id            TEXT NOT NULL,
    client_secret_sealed BLOB NOT NULL,
    redirect_uri         TEXT NOT NULL,
    scopes               TEXT NOT NULL,   -- JSON array; empty means the provider's defaults
    authorization_url    TEXT,            -- NULL: the provider preset's
    token_url            TEXT,
    revocation_url       TEXT,
    token_auth_method    TEXT NOT NULL CHECK (token_auth_method IN ('client_secret_post', 'client_secret_basic')),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    CONSTRAINT oauth_clients_owner_client_id_key UNIQUE (owner_id, client_id)
);

CREATE TABLE branches (
    id              BLOB PRIMARY KEY NOT NULL,
    owner_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    oauth_client_id BLOB NOT NULL REFERENCES oauth_clients (id),
    branch_id       TEXT NOT NULL,
    name            TEXT NOT NULL,
    account_id      TEXT,
    location_id     TEXT,
    email           TEXT,
    description     TEXT,
    is_active       INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CONSTRAINT branches_owner_branch_id_key UNIQUE (owner_id, branch_id)
);
CREATE INDEX branches_client_idx ON branches (oauth_client_id);

-- One grant per branch. The token route reads exactly one row of this table by primary key.
CREATE TABLE oauth_connections (
    branch_id              BLOB PRIMARY KEY NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    access_token_sealed    BLOB NOT NULL,
    refresh_token_sealed   BLOB,
    token_type             TEXT NOT NULL,
    scope                  TEXT NOT NULL,  -- as the provider granted it (space-separated)
    expires_at             TEXT NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('active', 'needs_reauth', 'revoked')),
    connected_at           TEXT NOT NULL,
    last_refresh_at        TEXT,
    last_attempt_at        TEXT,
    next_attempt_at        TEXT,    -- after a passing fault: no provider call before this
    last_used_at           TEXT,
    last_error             TEXT,
    consecutive_failures   INTEGER NOT NULL DEFAULT 0,
    refresh_count          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX oauth_connections_expiry_idx ON oauth_connections (status, expires_at);

-- Pending authorizations: single use (deleted when consumed), 10 minutes, bound to the branch, the
-- user, the OAuth client and the redirect URI. Only the SHA-256 of the state is kept; the PKCE
-- verifier is sealed.
CREATE TABLE oauth_states (
    state_hash          BLOB PRIMARY KEY NOT NULL,
    branch_id           BLOB NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    user_id             BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    oauth_client_id     BLOB NOT NULL,
    pkce_verifier_sealed BLOB NOT NULL,
    redirect_uri        TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    expires_at          TEXT NOT NULL
);
CREATE INDEX oauth_states_expiry_idx ON oauth_states (expires_at);

-- A counter bumped by every change that can make a cached token row wrong; the server polls it,
-- so a change made by another process (the CLI, an operator's SQL) reaches its cache.
CREATE TABLE connection_change_counter (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    changes INTEGER NOT NULL
);
INSERT INTO connection_change_counter (id, changes) VALUES (1, 0);

CREATE TRIGGER oauth_connections_inserted AFTER INSERT ON oauth_connections
BEGIN
    UPDATE connection_change_counter SET changes = changes + 1 WHERE id = 1;
END;

CREATE TRIGGER oauth_connections_changed
AFTER UPDATE OF access_token_sealed, refresh_token_sealed, token_type, scope, expires_at, status
ON oauth_connections
BEGIN
    UPDATE connection_change_counter SET changes = changes + 1 WHERE id = 1;
END;

CREATE TRIGGER oauth_connections_deleted AFTER DELETE ON oauth_connections
BEGIN
    UPDATE connection_change_counter SET changes = changes + 1 WHERE id = 1;
END;

CREATE TRIGGER branches_changed AFTER UPDATE OF is_active, owner_id ON branches
BEGIN
    UPDATE connection_change_counter SET changes = changes + 1 WHERE id = 1;
END;

CREATE TRIGGER branches_deleted AFTER DELETE ON branches
BEGIN
    UPDATE connection_change_counter SET changes = changes + 1 WHERE id = 1;
END;
