-- Gates saved on FCS files, per owner. A gate belongs to one dataset of one file (the built-in
-- sample when file_id is NULL) and may sit inside a parent gate of the same file; deleting a
-- file, a parent or the owner deletes the gates under it. The region and the pipeline it is
-- judged on are kept as the JSON the API validated (resources/fcs/gates.rs), so a gate reads
-- back exactly as it was given.

CREATE TABLE fcs_gates (
    id         BLOB PRIMARY KEY NOT NULL,     -- UUIDv7, the API's gate id
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    file_id    BLOB REFERENCES fcs_files (id) ON DELETE CASCADE,
    dataset    INTEGER NOT NULL,
    parent_id  BLOB REFERENCES fcs_gates (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- One name per dataset of a file: a population is named once (NULL, the sample, as one key).
CREATE UNIQUE INDEX fcs_gates_name_idx ON fcs_gates (user_id, COALESCE(file_id, x'00'), dataset, name);
CREATE INDEX fcs_gates_file_idx ON fcs_gates (user_id, file_id, created_at);
CREATE INDEX fcs_gates_parent_idx ON fcs_gates (parent_id);
