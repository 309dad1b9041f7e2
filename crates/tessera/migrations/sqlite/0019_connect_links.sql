-- Reconnect links (connections/links.rs): a branch's owner hands a branch manager, who has no
-- Tessera account, a link that opens a page starting the provider's consent. Only the link
-- secret's SHA-256 is kept. A link works until it expires, until a consent through it connects
-- the branch with every scope required, or until a newer link for the branch ends it.
CREATE TABLE branch_connect_links (
    token_hash  BLOB PRIMARY KEY,
    branch_id   BLOB NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    created_by  BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    ended_at    TEXT
);
CREATE INDEX branch_connect_links_branch_idx ON branch_connect_links (branch_id);

-- An authorization started from a link remembers it, so a successful callback spends it.
ALTER TABLE oauth_states ADD COLUMN connect_link_hash BLOB;

-- A consent that did not grant every required scope (Google lets the person untick one) is
-- stored, but as `insufficient_scope`: unusable until the branch consents again. SQLite cannot
-- alter a CHECK: the column is swapped (as in 0007), with the index and trigger that name it.
DROP INDEX oauth_connections_expiry_idx;
DROP TRIGGER oauth_connections_changed;
ALTER TABLE oauth_connections RENAME COLUMN status TO status_before_scopes;
ALTER TABLE oauth_connections ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'needs_reauth', 'insufficient_scope', 'revoked'));
UPDATE oauth_connections SET status = status_before_scopes;
ALTER TABLE oauth_connections DROP COLUMN status_before_scopes;
CREATE INDEX oauth_connections_expiry_idx ON oauth_connections (status, expires_at);
CREATE TRIGGER oauth_connections_changed
AFTER UPDATE OF access_token_sealed, refresh_token_sealed, token_type, scope, expires_at, status
ON oauth_connections
BEGIN
    UPDATE connection_change_counter SET changes = changes + 1 WHERE id = 1;
END;
