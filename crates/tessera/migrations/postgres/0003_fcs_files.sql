-- Uploaded FCS files (PostgreSQL). The bytes live in object storage under `object_key`; this row
-- is what makes an object visible, so an upload is written, validated and only then recorded.
-- Counts are kept here so that listing files never has to open them.

CREATE TABLE fcs_files (
    id               UUID PRIMARY KEY,            -- UUIDv7, the API's file_id
    user_id          UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    filename         TEXT NOT NULL,               -- the client's name, sanitised
    object_key       TEXT NOT NULL,
    size_bytes       BIGINT NOT NULL,
    total_events     BIGINT NOT NULL,
    total_parameters BIGINT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX fcs_files_user_idx ON fcs_files (user_id, created_at);
