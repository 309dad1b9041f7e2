-- One-time links an admin hands to a person (admin/service.rs): a password reset for a clinic
-- with no mail server (Kanidm's reset token), and an invitation that creates an account with a
-- chosen role. The secret in the link is stored only as its SHA-256. A link works once, until it
-- expires, and a newer link for the same account (reset) or email (invite) ends the older one.
CREATE TABLE account_links (
    token_hash  BYTEA PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('password_reset', 'invite')),
    user_id     UUID REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT,
    role        TEXT,
    created_by  UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    ended_at    TIMESTAMPTZ,
    CHECK ((purpose = 'password_reset' AND user_id IS NOT NULL)
        OR (purpose = 'invite' AND email IS NOT NULL AND role IS NOT NULL))
);
CREATE INDEX account_links_user_idx ON account_links (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX account_links_email_idx ON account_links (lower(email)) WHERE email IS NOT NULL;

-- Accounts made by accepting an invitation, and (later) service accounts, say so.
ALTER TABLE users DROP CONSTRAINT users_created_via_check;
ALTER TABLE users ADD CONSTRAINT users_created_via_check
    CHECK (created_via IN ('registration', 'operator', 'invite', 'service'));
