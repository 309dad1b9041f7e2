-- Least privilege for self-registration (PostgreSQL): a `member` role that reaches no case record
-- becomes the default, and each new account records how it was made, so an operator can find
-- self-registered accounts. Existing rows keep their roles; `created_via` stays NULL for them
-- (how they were made was not recorded).
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'manager', 'therapist', 'social_worker', 'coordinator', 'data_entry', 'member'));
ALTER TABLE users ALTER COLUMN role SET DEFAULT 'member';

ALTER TABLE users ADD COLUMN created_via TEXT CHECK (created_via IN ('registration', 'operator'));
