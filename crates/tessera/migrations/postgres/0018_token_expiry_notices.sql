-- token.expiring webhook events (tokens/expiry.rs): the smallest notice threshold (30, 7 or 1
-- days before expires_at) a token's owner has been told of, 0 once told it expired; NULL: none
-- yet. A token born (or renewed) inside a threshold starts there, so it is told only of the
-- thresholds it crosses afterwards. The scan finds candidates through the index.
ALTER TABLE personal_access_tokens ADD COLUMN expiry_notified_days INTEGER;
CREATE INDEX personal_access_tokens_live_expiry_idx ON personal_access_tokens (expires_at)
    WHERE revoked_at IS NULL;
-- Tokens that expired before this migration are not news: their owners are not told now.
UPDATE personal_access_tokens SET expiry_notified_days = 0 WHERE expires_at <= now();
