-- An account an admin has disabled (admin/service.rs): its sessions were ended, it cannot sign
-- in, and its PATs answer "Account disabled" until it is enabled. NULL for a usable account.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;

-- Cached PATs were found with their owner enabled: a change of status empties every instance's
-- token cache, exactly as a revocation does (0002).
CREATE TRIGGER users_disabled_changed
AFTER UPDATE OF disabled_at ON users
FOR EACH ROW EXECUTE FUNCTION tessera_notify_token_changed();

-- Who did it, for the events an admin causes (a role change, disabling an account, a reset
-- link): the security-events listing names them. NULL for what a person does to themselves or
-- what the service notices (a failed login).
ALTER TABLE security_events ADD COLUMN actor_id UUID REFERENCES users (id) ON DELETE SET NULL;
