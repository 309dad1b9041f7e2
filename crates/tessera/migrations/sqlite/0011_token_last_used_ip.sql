-- The address of a token's last authorized use, written with last_used_at (tokens/audit.rs):
-- "used yesterday from an address nobody knows" is how a leaked token is noticed. NULL until
-- the first use after this migration.
ALTER TABLE personal_access_tokens ADD COLUMN last_used_ip TEXT;
