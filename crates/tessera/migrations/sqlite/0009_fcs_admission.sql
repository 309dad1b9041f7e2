-- One row that every recorded FCS upload updates first, in the transaction that checks the
-- user's quota and the shared storage cap and inserts the file: the update serialises those
-- transactions on both backends (a row lock on PostgreSQL, the write lock on SQLite), so two
-- uploads at once cannot both pass a check made before either was recorded. `admitted` counts them.
CREATE TABLE fcs_admission (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    admitted BIGINT NOT NULL
);
INSERT INTO fcs_admission (id, admitted) VALUES (1, 0);
