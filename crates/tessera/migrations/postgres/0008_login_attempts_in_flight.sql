-- Login attempts whose password is being checked, per brute-force subject (account and client IP).
-- Only a checked wrong password counts in `login_failures`; an attempt in flight holds one of the
-- places its subjects have left below their lock threshold, so parallel guesses cannot exceed it.
-- A row outlives its request only if the process died: `expires_at` lets it stop counting then.
CREATE TABLE login_attempts_in_flight (
    subject    TEXT NOT NULL,
    attempt_id UUID NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subject, attempt_id)
);
CREATE INDEX login_attempts_in_flight_attempt_idx ON login_attempts_in_flight (attempt_id);
