-- One-time links an admin hands to a person (admin/service.rs): a password reset for a clinic
-- with no mail server (Kanidm's reset token), and an invitation that creates an account with a
-- chosen role. The secret in the link is stored only as its SHA-256. A link works once, until it
-- expires, and a newer link for the same account (reset) or email (invite) ends the older one.
CREATE TABLE account_links (
    token_hash  BLOB PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('password_reset', 'invite')),
    user_id     BLOB REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT,
    role        TEXT,
    created_by  BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    ended_at    TEXT,
    CHECK ((purpose = 'password_reset' AND user_id IS NOT NULL)
        OR (purpose = 'invite' AND email IS NOT NULL AND role IS NOT NULL))
);
CREATE INDEX account_links_user_idx ON account_links (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX account_links_email_idx ON account_links (lower(email)) WHERE email IS NOT NULL;

-- Accounts made by accepting an invitation, and (later) service accounts, say so. SQLite cannot
-- alter a CHECK: the column is swapped as in 0007.
ALTER TABLE users RENAME COLUMN created_via TO created_via_before_invites;
ALTER TABLE users ADD COLUMN created_via TEXT
    CHECK (created_via IN ('registration', 'operator', 'invite', 'service'));
UPDATE users SET created_via = created_via_before_invites;
ALTER TABLE users DROP COLUMN created_via_before_invites;
