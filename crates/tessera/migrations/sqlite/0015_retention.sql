-- The retention task (admin/retention.rs) deletes security events and PAT audit entries older
-- than SECURITY_EVENTS_RETENTION_DAYS / AUDIT_RETENTION_DAYS, a small batch at a time: it finds
-- each batch by time through these indexes instead of scanning the tables.
CREATE INDEX security_events_time_idx ON security_events (occurred_at);
CREATE INDEX pat_audit_log_time_idx ON pat_audit_log (occurred_at);
