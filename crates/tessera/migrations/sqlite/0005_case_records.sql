-- Case records (SQLite): beneficiaries, their therapy sessions, and the per-record access log.
-- Dates are ISO text (YYYY-MM-DD) and clock times HH:MM on both backends, so one SQL text compares
-- and sorts them on either; lists are JSON arrays of strings.

CREATE TABLE beneficiaries (
    id                    BLOB PRIMARY KEY NOT NULL,
    national_id           TEXT NOT NULL,
    first_name            TEXT NOT NULL,
    last_name             TEXT NOT NULL,
    date_of_birth         TEXT NOT NULL,
    gender                TEXT NOT NULL CHECK (gender IN ('male', 'female')),
    disability_type       TEXT CHECK (disability_type IN ('physical', 'intellectual', 'sensory', 'multiple', 'other')),
    disability_category   TEXT,
    severity_level        TEXT CHECK (severity_level IN ('mild', 'moderate', 'severe', 'profound')),
    diagnosis             TEXT,
    diagnosis_date        TEXT,
    phone                 TEXT,
    email                 TEXT,
    address               TEXT,
    city                  TEXT,
    region                TEXT,
    postal_code           TEXT,
    guardian_name         TEXT NOT NULL,
    guardian_relationship TEXT,
    guardian_phone        TEXT NOT NULL,
    guardian_email        TEXT,
    guardian_national_id  TEXT,
    medical_history       TEXT NOT NULL DEFAULT '[]',
    allergies             TEXT NOT NULL DEFAULT '[]',
    medications           TEXT NOT NULL DEFAULT '[]',
    status                TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'graduated', 'transferred')),
    registration_date     TEXT NOT NULL,
    notes                 TEXT,
    created_by            BLOB NOT NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
-- "AB123" and "ab123" are the same national id to a person.
CREATE UNIQUE INDEX beneficiaries_national_id_key ON beneficiaries (lower(national_id));
CREATE INDEX beneficiaries_created_idx ON beneficiaries (created_at, id);
CREATE INDEX beneficiaries_last_name_idx ON beneficiaries (last_name, id);

CREATE TABLE therapy_sessions (
    id                  BLOB PRIMARY KEY NOT NULL,
    session_number      TEXT NOT NULL,
    beneficiary_id      BLOB NOT NULL REFERENCES beneficiaries (id) ON DELETE CASCADE,
    therapist_id        BLOB NOT NULL REFERENCES users (id),
    session_type        TEXT NOT NULL CHECK (session_type IN ('physical', 'occupational', 'speech', 'behavioral', 'psychological', 'other')),
    session_date        TEXT NOT NULL,
    start_time          TEXT NOT NULL,
    end_time            TEXT NOT NULL CHECK (end_time > start_time),
    status              TEXT NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'completed', 'cancelled', 'no_show', 'rescheduled')),
    objectives          TEXT NOT NULL DEFAULT '[]',
    activities          TEXT NOT NULL DEFAULT '[]',
    goals_achieved      TEXT NOT NULL DEFAULT '[]',
    notes               TEXT,
    observations        TEXT,
    recommendations     TEXT,
    progress_rating     INTEGER CHECK (progress_rating BETWEEN 1 AND 10),
    attendance_status   TEXT CHECK (attendance_status IN ('present', 'absent', 'late', 'early_departure')),
    engagement          TEXT CHECK (engagement IN ('excellent', 'good', 'fair', 'poor')),
    cancellation_reason TEXT,
    completed_at        TEXT,
    cancelled_at        TEXT,
    created_by          BLOB NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX therapy_sessions_session_number_key ON therapy_sessions (session_number);
CREATE INDEX therapy_sessions_beneficiary_idx ON therapy_sessions (beneficiary_id, session_date, start_time);
CREATE INDEX therapy_sessions_therapist_idx ON therapy_sessions (therapist_id, session_date, start_time);

-- One row per therapist, locked (by an upsert) while that therapist's bookings are checked and
-- written, so two concurrent bookings cannot both pass the overlap check.
CREATE TABLE therapist_booking_locks (
    therapist_id BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE
);

-- Who read or changed which beneficiary's record. No foreign key on purpose: the log outlives the
-- record, so the deletion itself (and everything before it) stays visible to auditors.
CREATE TABLE case_access_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    beneficiary_id BLOB NOT NULL,
    session_id     BLOB,
    user_id        BLOB NOT NULL,
    token_id       BLOB,
    action         TEXT NOT NULL,
    fields         TEXT NOT NULL DEFAULT '[]', -- names of changed fields, never their values
    occurred_at    TEXT NOT NULL
);
CREATE INDEX case_access_log_beneficiary_idx ON case_access_log (beneficiary_id, id);
