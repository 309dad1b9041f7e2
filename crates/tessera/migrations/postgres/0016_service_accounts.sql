-- Service accounts (service_accounts/): accounts owned by the lab, not by a technician, that
-- hold PATs for instruments and scripts and cannot sign in. They live in `users` so that a
-- token's owner, role and disabled state work the same for both kinds.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'service'));
ALTER TABLE users ADD COLUMN description TEXT;
-- Who made the service account.
ALTER TABLE users ADD COLUMN created_by UUID REFERENCES users (id) ON DELETE SET NULL;
-- A deleted service account keeps its row (and its tokens' audit history); its name stays taken.
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMPTZ;

-- Who minted a token, when that is not its owner (a service account's tokens): disabling or
-- deleting that person leaves the token working.
ALTER TABLE personal_access_tokens ADD COLUMN created_by UUID REFERENCES users (id) ON DELETE SET NULL;
