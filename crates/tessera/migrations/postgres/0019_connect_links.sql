-- Reconnect links (connections/links.rs): a branch's owner hands a branch manager, who has no
-- Tessera account, a link that opens a page starting the provider's consent. Only the link
-- secret's SHA-256 is kept. A link works until it expires, until a consent through it connects
-- the branch with every scope required, or until a newer link for the branch ends it.
CREATE TABLE branch_connect_links (
    token_hash  BYTEA PRIMARY KEY,
    branch_id   UUID NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    created_by  UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    ended_at    TIMESTAMPTZ
);
CREATE INDEX branch_connect_links_branch_idx ON branch_connect_links (branch_id);

-- An authorization started from a link remembers it, so a successful callback spends it.
ALTER TABLE oauth_states ADD COLUMN connect_link_hash BYTEA;

-- A consent that did not grant every required scope (Google lets the person untick one) is
-- stored, but as `insufficient_scope`: unusable until the branch consents again.
ALTER TABLE oauth_connections DROP CONSTRAINT oauth_connections_status_check;
ALTER TABLE oauth_connections ADD CONSTRAINT oauth_connections_status_check
    CHECK (status IN ('active', 'needs_reauth', 'insufficient_scope', 'revoked'));
