-- A counter bumped by every change that can invalidate a cached token (revocation, a new secret,
-- a new expiry). The server polls it, so a token revoked by another process (the CLI) drops out
-- of the server's cache within the poll interval.
CREATE TABLE token_change_counter (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    changes INTEGER NOT NULL
);
INSERT INTO token_change_counter (id, changes) VALUES (1, 0);

CREATE TRIGGER personal_access_tokens_changed
AFTER UPDATE OF revoked_at, token_hash, token_prefix, expires_at, scopes, allowed_ips ON personal_access_tokens
BEGIN
    UPDATE token_change_counter SET changes = changes + 1 WHERE id = 1;
END;

CREATE TRIGGER personal_access_tokens_deleted
AFTER DELETE ON personal_access_tokens
BEGIN
    UPDATE token_change_counter SET changes = changes + 1 WHERE id = 1;
END;
