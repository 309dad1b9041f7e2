-- Every change that can invalidate a cached token (revocation, a new secret, a new expiry) is
-- announced on the channel `tessera_token_changed` when its transaction commits; every instance
-- listens and drops its cached tokens. A trigger (not application code) so that the CLI and
-- manual SQL invalidate caches too. `last_used_at` updates are deliberately not announced.
CREATE FUNCTION tessera_notify_token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tessera_token_changed', COALESCE(NEW.id, OLD.id)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER personal_access_tokens_changed
AFTER UPDATE OF revoked_at, token_hash, token_prefix, expires_at, scopes, allowed_ips OR DELETE
ON personal_access_tokens
FOR EACH ROW EXECUTE FUNCTION tessera_notify_token_changed();
