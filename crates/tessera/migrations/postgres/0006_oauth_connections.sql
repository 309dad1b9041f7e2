-- OAuth connections (PostgreSQL): OAuth client registrations, business branches, the grants they
-- hold, and pending authorization states. Every secret column holds a value sealed by
-- crate::crypto::KeyRing (key id inside the value, row id and column bound as associated data).

CREATE TABLE oauth_clients (
    id                   UUID PRIMARY KEY,
    owner_id             UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    provider             TEXT NOT NULL,
    client_id            TEXT NOT NULL,
    client_secret_sealed BYTEA NOT NULL,
    redirect_uri         TEXT NOT NULL,
    scopes               JSONB NOT NULL,  -- array of strings; empty means the provider's defaults
    authorization_url    TEXT,            -- NULL: the provider preset's
    token_url            TEXT,
    revocation_url       TEXT,
    token_auth_method    TEXT NOT NULL CHECK (token_auth_method IN ('client_secret_post', 'client_secret_basic')),
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    CONSTRAINT oauth_clients_owner_client_id_key UNIQUE (owner_id, client_id)
);

CREATE TABLE branches (
    id              UUID PRIMARY KEY,
    owner_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    oauth_client_id UUID NOT NULL REFERENCES oauth_clients (id),
    branch_id       TEXT NOT NULL,
    name            TEXT NOT NULL,
    account_id      TEXT,
    location_id     TEXT,
    email           TEXT,
    description     TEXT,
    is_active       BOOLEAN NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT branches_owner_branch_id_key UNIQUE (owner_id, branch_id)
);
CREATE INDEX branches_client_idx ON branches (oauth_client_id);

-- One grant per branch. The token route reads exactly one row of this table by primary key.
CREATE TABLE oauth_connections (
    branch_id              UUID PRIMARY KEY REFERENCES branches (id) ON DELETE CASCADE,
    access_token_sealed    BYTEA NOT NULL,
    refresh_token_sealed   BYTEA,
    token_type             TEXT NOT NULL,
    scope                  TEXT NOT NULL,  -- as the provider granted it (space-separated)
    expires_at             TIMESTAMPTZ NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('active', 'needs_reauth', 'revoked')),
    connected_at           TIMESTAMPTZ NOT NULL,
    last_refresh_at        TIMESTAMPTZ,
    last_attempt_at        TIMESTAMPTZ,
    next_attempt_at        TIMESTAMPTZ,    -- after a passing fault: no provider call before this
    last_used_at           TIMESTAMPTZ,
    last_error             TEXT,
    consecutive_failures   INTEGER NOT NULL DEFAULT 0,
    refresh_count          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX oauth_connections_expiry_idx ON oauth_connections (status, expires_at);

-- Pending authorizations: single use (deleted when consumed), 10 minutes, bound to the branch, the
-- user, the OAuth client and the redirect URI. Only the SHA-256 of the state is kept; the PKCE
-- verifier is sealed.
CREATE TABLE oauth_states (
    state_hash          BYTEA PRIMARY KEY,
    branch_id           UUID NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    user_id             UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    oauth_client_id     UUID NOT NULL,
    pkce_verifier_sealed BYTEA NOT NULL,
    redirect_uri        TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    expires_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_states_expiry_idx ON oauth_states (expires_at);

-- Every change that can make a cached token row wrong is announced on `tessera_connection_changed`
-- at commit; every instance listens and drops its cached connections (crate::cache). Consumers'
-- `last_used_at` updates are deliberately not announced.
CREATE FUNCTION tessera_notify_connection_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tessera_connection_changed', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER oauth_connections_changed
AFTER INSERT OR DELETE OR UPDATE OF access_token_sealed, refresh_token_sealed, token_type, scope,
    expires_at, status ON oauth_connections
FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_connection_changed();

CREATE TRIGGER branches_changed
AFTER DELETE OR UPDATE OF is_active, owner_id ON branches
FOR EACH STATEMENT EXECUTE FUNCTION tessera_notify_connection_changed();
