-- Least privilege for self-registration (SQLite): a `member` role that reaches no case record
-- becomes the default, and each new account records how it was made, so an operator can find
-- self-registered accounts. Existing rows keep their roles; `created_via` stays NULL for them
-- (how they were made was not recorded).
--
-- SQLite cannot alter a CHECK constraint, and rebuilding `users` would fire the ON DELETE
-- CASCADE of every table that references it. So the column is swapped instead: renamed, a new one
-- with the new CHECK added, the values copied, the old one dropped (its own CHECK goes with it).
ALTER TABLE users RENAME COLUMN role TO role_before_member;
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('admin', 'manager', 'therapist', 'social_worker', 'coordinator', 'data_entry', 'member'));
UPDATE users SET role = role_before_member;
ALTER TABLE users DROP COLUMN role_before_member;

ALTER TABLE users ADD COLUMN created_via TEXT CHECK (created_via IN ('registration', 'operator'));
