-- A regenerated or rotated token's previous secret, kept only for the grace its owner asked for
-- (tokens/service.rs, regenerate_token): during it the old secret still works, so a job can move
-- to the new one without an outage. NULL when there is no grace. Looked up by its prefix like
-- the current secret; never cached, so the grace ends on time on every instance.
ALTER TABLE personal_access_tokens ADD COLUMN previous_token_prefix TEXT;
ALTER TABLE personal_access_tokens ADD COLUMN previous_token_hash BYTEA;
ALTER TABLE personal_access_tokens ADD COLUMN previous_valid_until TIMESTAMPTZ;
CREATE INDEX personal_access_tokens_previous_prefix_idx
    ON personal_access_tokens (previous_token_prefix) WHERE previous_token_prefix IS NOT NULL;
