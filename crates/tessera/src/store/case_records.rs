//! Queries on the case records: `beneficiaries`, `therapy_sessions`, `therapist_booking_locks`
//! and `case_access_log`.
//!
//! Every change is written together with its access-log entry in one [`Tx`], so a record can
//! never change without its log; reads are logged in a transaction committed before the data is
//! answered. The transaction's first statement is always a write ([`Tx::lock_beneficiary`],
//! [`Tx::lock_session`], [`Tx::lock_therapist`] or an insert): on PostgreSQL that takes the
//! row lock, on SQLite it takes the database's write lock at once (like `BEGIN IMMEDIATE`), so a
//! check made after it (overlap, current status) still holds at commit on both backends, with the
//! same SQL text.

use crate::types::{text_enum, ClockTime, Day, Timestamp};
use std::sync::LazyLock;

use serde::Serialize;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::tx::on_tx;
use super::{on_pool, Store, Tx};

/// Who is acting: the person, and the PAT if they act through one.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    /// The person (a PAT's owner).
    pub user_id: Uuid,
    /// The PAT used, if any.
    pub token_id: Option<Uuid>,
}

text_enum! {
    /// A beneficiary's gender, as the centre records it.
    pub enum Gender("gender") {
        Male = "male",
        Female = "female",
    }
}

text_enum! {
    /// Where a beneficiary's care stands.
    pub enum BeneficiaryStatus("beneficiary status") {
        Active = "active",
        Inactive = "inactive",
        Graduated = "graduated",
        Transferred = "transferred",
    }
}

text_enum! {
    /// Where a therapy session stands. Every session starts `Scheduled` and moves from there
    /// only.
    pub enum SessionStatus("session status") {
        Scheduled = "scheduled",
        Completed = "completed",
        Cancelled = "cancelled",
        NoShow = "no_show",
        Rescheduled = "rescheduled",
    }
}

/// The editable fields of a beneficiary, as stored (validated by the caller).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct BeneficiaryValues {
    /// National identity number; unique (case-insensitively).
    pub national_id: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    #[schema(value_type = String, format = Date, example = "2015-04-30")]
    pub date_of_birth: Day,
    /// `male` or `female`.
    #[schema(value_type = String)]
    pub gender: Gender,
    /// `physical`, `intellectual`, `sensory`, `multiple` or `other`.
    pub disability_type: Option<String>,
    /// Free-text category.
    pub disability_category: Option<String>,
    /// `mild`, `moderate`, `severe` or `profound`.
    pub severity_level: Option<String>,
    pub diagnosis: Option<String>,
    /// When the diagnosis was made.
    #[schema(value_type = Option<String>, format = Date, example = "2015-04-30")]
    pub diagnosis_date: Option<Day>,
    /// Phone number.
    pub phone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Street address.
    pub address: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub guardian_name: String,
    /// Guardian's relationship to the beneficiary.
    pub guardian_relationship: Option<String>,
    /// Guardian's phone number.
    pub guardian_phone: String,
    /// Guardian's email address.
    pub guardian_email: Option<String>,
    pub guardian_national_id: Option<String>,
    /// Medical history entries.
    #[schema(value_type = Vec<String>)]
    pub medical_history: Json<Vec<String>>,
    #[schema(value_type = Vec<String>)]
    pub allergies: Json<Vec<String>>,
    #[schema(value_type = Vec<String>)]
    pub medications: Json<Vec<String>>,
    /// `active`, `inactive`, `graduated` or `transferred`.
    #[schema(value_type = String)]
    pub status: BeneficiaryStatus,
    /// When the beneficiary was registered.
    #[schema(value_type = String, format = Date, example = "2015-04-30")]
    pub registration_date: Day,
    /// Free-text notes.
    pub notes: Option<String>,
}

/// A stored beneficiary.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BeneficiaryRecord {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// The editable fields.
    #[sqlx(flatten)]
    pub values: BeneficiaryValues,
    /// Number of therapy sessions (any status).
    pub sessions_count: i64,
    /// Who created the record.
    pub created_by: Uuid,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

const BENEFICIARY_VALUES: [&str; 27] = [
    "national_id",
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "disability_type",
    "disability_category",
    "severity_level",
    "diagnosis",
    "diagnosis_date",
    "phone",
    "email",
    "address",
    "city",
    "region",
    "postal_code",
    "guardian_name",
    "guardian_relationship",
    "guardian_phone",
    "guardian_email",
    "guardian_national_id",
    "medical_history",
    "allergies",
    "medications",
    "status",
    "registration_date",
    "notes",
];

/// The select list of a beneficiary row (`b`) with its computed session count.
static BENEFICIARY_SELECT: LazyLock<String> = LazyLock::new(|| {
    let values: Vec<String> = BENEFICIARY_VALUES
        .iter()
        .map(|c| format!("b.{c}"))
        .collect();
    format!(
        "SELECT b.id, {}, b.created_by, b.created_at, b.updated_at, \
         (SELECT COUNT(*) FROM therapy_sessions s WHERE s.beneficiary_id = b.id) AS sessions_count \
         FROM beneficiaries b",
        values.join(", ")
    )
});

/// `INSERT`: `$1` id, `$2..$28` values, `$29` created_by, `$30` created_at = updated_at.
static BENEFICIARY_INSERT: LazyLock<String> = LazyLock::new(|| {
    let params: Vec<String> = (2..=28).map(|n| format!("${n}")).collect();
    format!(
        "INSERT INTO beneficiaries (id, {}, created_by, created_at, updated_at) VALUES ($1, {}, $29, $30, $30)",
        BENEFICIARY_VALUES.join(", "),
        params.join(", ")
    )
});

/// `UPDATE`: `$1` id, `$2..$28` values, `$29` updated_at.
static BENEFICIARY_UPDATE: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = BENEFICIARY_VALUES
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 2))
        .collect();
    format!(
        "UPDATE beneficiaries SET {}, updated_at = $29 WHERE id = $1",
        sets.join(", ")
    )
});

/// Binds the 27 beneficiary values in [`BENEFICIARY_VALUES`] order.
macro_rules! bind_beneficiary {
    ($query:expr, $v:expr) => {{
        let v = $v;
        $query
            .bind(&v.national_id)
            .bind(&v.first_name)
            .bind(&v.last_name)
            .bind(v.date_of_birth)
            .bind(&v.gender)
            .bind(&v.disability_type)
            .bind(&v.disability_category)
            .bind(&v.severity_level)
            .bind(&v.diagnosis)
            .bind(v.diagnosis_date)
            .bind(&v.phone)
            .bind(&v.email)
            .bind(&v.address)
            .bind(&v.city)
            .bind(&v.region)
            .bind(&v.postal_code)
            .bind(&v.guardian_name)
            .bind(&v.guardian_relationship)
            .bind(&v.guardian_phone)
            .bind(&v.guardian_email)
            .bind(&v.guardian_national_id)
            .bind(&v.medical_history)
            .bind(&v.allergies)
            .bind(&v.medications)
            .bind(&v.status)
            .bind(v.registration_date)
            .bind(&v.notes)
    }};
}

/// The editable fields of a therapy session, as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct SessionValues {
    /// The therapist booked (an existing user).
    pub therapist_id: Uuid,
    /// `physical`, `occupational`, `speech`, `behavioral`, `psychological` or `other`.
    pub session_type: String,
    /// The day of the session.
    #[schema(value_type = String, format = Date, example = "2015-04-30")]
    pub session_date: Day,
    /// Start, local wall-clock time.
    #[schema(value_type = String, example = "14:30")]
    pub start_time: ClockTime,
    /// End, after the start on the same day.
    #[schema(value_type = String, example = "14:30")]
    pub end_time: ClockTime,
    /// `scheduled`, `completed`, `cancelled`, `no_show` or `rescheduled`.
    #[schema(value_type = String)]
    pub status: SessionStatus,
    #[schema(value_type = Vec<String>)]
    pub objectives: Json<Vec<String>>,
    #[schema(value_type = Vec<String>)]
    pub activities: Json<Vec<String>>,
    #[schema(value_type = Vec<String>)]
    pub goals_achieved: Json<Vec<String>>,
    pub notes: Option<String>,
    pub observations: Option<String>,
    pub recommendations: Option<String>,
    /// 1–10.
    pub progress_rating: Option<i32>,
    /// `present`, `absent`, `late` or `early_departure`.
    pub attendance_status: Option<String>,
    /// `excellent`, `good`, `fair` or `poor`.
    pub engagement: Option<String>,
    /// Why it was cancelled.
    pub cancellation_reason: Option<String>,
    /// When it was completed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<Timestamp>,
    /// When it was cancelled.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<Timestamp>,
}

/// A stored therapy session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Human-readable unique number, e.g. `TS-20240501-7QH2M9XK`.
    pub session_number: String,
    /// The beneficiary.
    pub beneficiary_id: Uuid,
    /// The editable fields.
    #[sqlx(flatten)]
    pub values: SessionValues,
    /// Who booked it.
    pub created_by: Uuid,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

const SESSION_VALUES: [&str; 18] = [
    "therapist_id",
    "session_type",
    "session_date",
    "start_time",
    "end_time",
    "status",
    "objectives",
    "activities",
    "goals_achieved",
    "notes",
    "observations",
    "recommendations",
    "progress_rating",
    "attendance_status",
    "engagement",
    "cancellation_reason",
    "completed_at",
    "cancelled_at",
];

static SESSION_SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, session_number, beneficiary_id, {}, created_by, created_at, updated_at FROM therapy_sessions",
        SESSION_VALUES.join(", ")
    )
});

/// `INSERT … ON CONFLICT (session_number) DO NOTHING`: `$1` id, `$2` number, `$3` beneficiary,
/// `$4..$21` values, `$22` created_by, `$23` created_at = updated_at.
static SESSION_INSERT: LazyLock<String> = LazyLock::new(|| {
    let params: Vec<String> = (4..=21).map(|n| format!("${n}")).collect();
    format!(
        "INSERT INTO therapy_sessions (id, session_number, beneficiary_id, {}, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, {}, $22, $23, $23) ON CONFLICT (session_number) DO NOTHING",
        SESSION_VALUES.join(", "),
        params.join(", ")
    )
});

/// `UPDATE`: `$1` id, `$2..$19` values, `$20` updated_at.
static SESSION_UPDATE: LazyLock<String> = LazyLock::new(|| {
    let sets: Vec<String> = SESSION_VALUES
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 2))
        .collect();
    format!(
        "UPDATE therapy_sessions SET {}, updated_at = $20 WHERE id = $1",
        sets.join(", ")
    )
});

macro_rules! bind_session {
    ($query:expr, $v:expr) => {{
        let v = $v;
        $query
            .bind(v.therapist_id)
            .bind(&v.session_type)
            .bind(v.session_date)
            .bind(v.start_time)
            .bind(v.end_time)
            .bind(&v.status)
            .bind(&v.objectives)
            .bind(&v.activities)
            .bind(&v.goals_achieved)
            .bind(&v.notes)
            .bind(&v.observations)
            .bind(&v.recommendations)
            .bind(v.progress_rating)
            .bind(&v.attendance_status)
            .bind(&v.engagement)
            .bind(&v.cancellation_reason)
            .bind(v.completed_at)
            .bind(v.cancelled_at)
    }};
}

/// One access-log entry to write.
#[derive(Debug, Clone)]
pub struct AccessEntry<'a> {
    /// Whose record.
    pub beneficiary_id: Uuid,
    /// The session concerned, if any.
    pub session_id: Option<Uuid>,
    /// Who, and through which token.
    pub actor: Actor,
    /// What was done, e.g. `beneficiary.update`.
    pub action: &'a str,
    /// Names of the changed fields (never their values).
    pub fields: Vec<String>,
    /// When.
    pub at: Timestamp,
}

const LOG_INSERT: &str = "INSERT INTO case_access_log (beneficiary_id, session_id, user_id, token_id, action, fields, occurred_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A stored access-log entry, with the actor's username.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccessLogRecord {
    /// Entry id; higher is newer.
    pub id: i64,
    /// Whose record.
    pub beneficiary_id: Uuid,
    /// The session concerned, if any.
    pub session_id: Option<Uuid>,
    /// Who.
    pub user_id: Uuid,
    /// Their username (if the account still exists).
    pub username: Option<String>,
    /// The PAT used, if any.
    pub token_id: Option<Uuid>,
    /// What was done.
    pub action: String,
    /// Names of the changed fields.
    pub fields: Json<Vec<String>>,
    /// When.
    pub occurred_at: Timestamp,
}

/// Filters, order and page of a beneficiary list (validated by the caller).
#[derive(Debug, Clone)]
pub struct BeneficiaryQuery {
    /// `LIKE` pattern, already lower-cased and escaped with `\`, wrapped in `%…%`.
    pub search: Option<String>,
    /// Exact status.
    pub status: Option<BeneficiaryStatus>,
    /// Exact disability type.
    pub disability_type: Option<String>,
    /// An `ORDER BY` expression on `b` from the whitelist (never user text).
    pub sort_column: &'static str,
    /// `ASC` or `DESC`.
    pub descending: bool,
    /// Rows per page.
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

/// Filters and page of a beneficiary's sessions.
#[derive(Debug, Clone)]
pub struct SessionQuery {
    /// Exact status.
    pub status: Option<SessionStatus>,
    /// First day (inclusive).
    pub from: Option<Day>,
    /// Last day (inclusive).
    pub to: Option<Day>,
    /// Rows per page.
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

impl Store {
    /// One page of beneficiaries and the number matching the filters.
    pub async fn list_beneficiaries(
        &self,
        query: &BeneficiaryQuery,
    ) -> Result<(Vec<BeneficiaryRecord>, i64), sqlx::Error> {
        let mut conditions = Vec::new();
        let mut texts: Vec<&str> = Vec::new();
        if let Some(pattern) = &query.search {
            texts.push(pattern);
            let n = texts.len();
            conditions.push(format!(
                "(lower(b.first_name) LIKE ${n} ESCAPE '\\' OR lower(b.last_name) LIKE ${n} ESCAPE '\\' \
                 OR lower(b.first_name || ' ' || b.last_name) LIKE ${n} ESCAPE '\\' \
                 OR lower(b.national_id) LIKE ${n} ESCAPE '\\' OR lower(b.guardian_name) LIKE ${n} ESCAPE '\\')"
            ));
        }
        for (column, value) in [
            ("status", query.status.map(BeneficiaryStatus::as_str)),
            ("disability_type", query.disability_type.as_deref()),
        ] {
            if let Some(value) = value {
                texts.push(value);
                conditions.push(format!("b.{column} = ${}", texts.len()));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let direction = if query.descending { "DESC" } else { "ASC" };
        let n = texts.len();
        let page_sql = format!(
            "{} {filter} ORDER BY {} {direction}, b.id {direction} LIMIT ${} OFFSET ${}",
            *BENEFICIARY_SELECT,
            query.sort_column,
            n + 1,
            n + 2
        );
        let count_sql = format!("SELECT COUNT(*) FROM beneficiaries b{filter}");
        on_pool!(self, pool => {
            let mut rows = sqlx::query_as::<_, BeneficiaryRecord>(&page_sql);
            let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
            for text in &texts {
                rows = rows.bind(*text);
                count = count.bind(*text);
            }
            let rows = rows.bind(query.limit).bind(query.offset).fetch_all(pool).await?;
            Ok((rows, count.fetch_one(pool).await?))
        })
    }

    /// One page of a beneficiary's sessions, newest first, and the number matching.
    pub async fn list_sessions(
        &self,
        beneficiary_id: Uuid,
        query: &SessionQuery,
    ) -> Result<(Vec<SessionRecord>, i64), sqlx::Error> {
        // Absent filters bind NULL and match everything, so the text never changes.
        let filter = " WHERE beneficiary_id = $1 AND ($2 IS NULL OR status = $2) \
                      AND ($3 IS NULL OR session_date >= $3) AND ($4 IS NULL OR session_date <= $4)";
        let page_sql = format!(
            "{}{filter} ORDER BY session_date DESC, start_time DESC, id DESC LIMIT $5 OFFSET $6",
            *SESSION_SELECT
        );
        let count_sql = format!("SELECT COUNT(*) FROM therapy_sessions{filter}");
        on_pool!(self, pool => {
            let rows = sqlx::query_as::<_, SessionRecord>(&page_sql)
                .bind(beneficiary_id)
                .bind(query.status)
                .bind(query.from)
                .bind(query.to)
                .bind(query.limit)
                .bind(query.offset)
                .fetch_all(pool)
                .await?;
            let total = sqlx::query_scalar::<_, i64>(&count_sql)
                .bind(beneficiary_id)
                .bind(query.status)
                .bind(query.from)
                .bind(query.to)
                .fetch_one(pool)
                .await?;
            Ok((rows, total))
        })
    }

    /// A therapist's scheduled sessions from `from` through `to`, in time order.
    pub async fn upcoming_sessions(
        &self,
        therapist_id: Uuid,
        from: Day,
        to: Day,
    ) -> Result<Vec<SessionRecord>, sqlx::Error> {
        let sql = format!(
            "{} WHERE therapist_id = $1 AND status = 'scheduled' AND session_date >= $2 AND session_date <= $3 \
             ORDER BY session_date, start_time, id",
            *SESSION_SELECT
        );
        on_pool!(self, pool => sqlx::query_as::<_, SessionRecord>(&sql)
            .bind(therapist_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await)
    }

    /// Whether a beneficiary exists now or ever had a log entry (a deleted one keeps its log).
    pub async fn beneficiary_known(&self, id: Uuid) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM (SELECT id FROM beneficiaries WHERE id = $1 \
             UNION ALL SELECT beneficiary_id FROM case_access_log WHERE beneficiary_id = $1) AS known",
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .map(|n| n > 0))
    }

    /// One page of a beneficiary's access log, newest first, and its length.
    pub async fn access_log(
        &self,
        beneficiary_id: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AccessLogRecord>, i64), sqlx::Error> {
        on_pool!(self, pool => {
            let rows = sqlx::query_as::<_, AccessLogRecord>(
                "SELECT l.id, l.beneficiary_id, l.session_id, l.user_id, u.username, l.token_id, l.action, l.fields, l.occurred_at \
                 FROM case_access_log l LEFT JOIN users u ON u.id = l.user_id \
                 WHERE l.beneficiary_id = $1 ORDER BY l.id DESC LIMIT $2 OFFSET $3",
            )
            .bind(beneficiary_id)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let total = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM case_access_log WHERE beneficiary_id = $1")
                .bind(beneficiary_id)
                .fetch_one(pool)
                .await?;
            Ok((rows, total))
        })
    }
}

impl Tx {
    /// Writes one access-log entry.
    pub async fn log(&mut self, entry: &AccessEntry<'_>) -> Result<(), sqlx::Error> {
        on_tx!(self, conn => sqlx::query(LOG_INSERT)
            .bind(entry.beneficiary_id)
            .bind(entry.session_id)
            .bind(entry.actor.user_id)
            .bind(entry.actor.token_id)
            .bind(entry.action)
            .bind(Json(&entry.fields))
            .bind(entry.at)
            .execute(&mut **conn)
            .await
            .map(drop))
    }

    /// Logs `action` on a session (and so on its beneficiary's record); `false` if there is no
    /// such session. A write, so it may open a read-only transaction on SQLite.
    pub async fn log_session(
        &mut self,
        session_id: Uuid,
        actor: Actor,
        action: &str,
        at: Timestamp,
    ) -> Result<bool, sqlx::Error> {
        on_tx!(self, conn => sqlx::query(
            "INSERT INTO case_access_log (beneficiary_id, session_id, user_id, token_id, action, fields, occurred_at) \
             SELECT beneficiary_id, id, $2, $3, $4, $5, $6 FROM therapy_sessions WHERE id = $1",
        )
        .bind(session_id)
        .bind(actor.user_id)
        .bind(actor.token_id)
        .bind(action)
        .bind(Json(Vec::<String>::new()))
        .bind(at)
        .execute(&mut **conn)
        .await
        .map(|done| done.rows_affected() == 1))
    }

    /// Locks a beneficiary's row for the rest of the transaction; `false` if there is none.
    pub async fn lock_beneficiary(&mut self, id: Uuid) -> Result<bool, sqlx::Error> {
        on_tx!(self, conn => sqlx::query("UPDATE beneficiaries SET updated_at = updated_at WHERE id = $1")
            .bind(id)
            .execute(&mut **conn)
            .await
            .map(|done| done.rows_affected() == 1))
    }

    /// Locks a session's row; returns its beneficiary, `None` if there is no such session.
    pub async fn lock_session(&mut self, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
        on_tx!(self, conn => sqlx::query_scalar::<_, Uuid>(
            "UPDATE therapy_sessions SET updated_at = updated_at WHERE id = $1 RETURNING beneficiary_id",
        )
        .bind(id)
        .fetch_optional(&mut **conn)
        .await)
    }

    /// Locks a therapist's bookings until commit. Fails with a foreign-key violation if the
    /// therapist is not a user.
    pub async fn lock_therapist(&mut self, therapist_id: Uuid) -> Result<(), sqlx::Error> {
        on_tx!(self, conn => sqlx::query(
            "INSERT INTO therapist_booking_locks (therapist_id) VALUES ($1) \
             ON CONFLICT (therapist_id) DO UPDATE SET therapist_id = excluded.therapist_id",
        )
        .bind(therapist_id)
        .execute(&mut **conn)
        .await
        .map(drop))
    }

    /// A beneficiary, as this transaction sees it.
    pub async fn beneficiary(
        &mut self,
        id: Uuid,
    ) -> Result<Option<BeneficiaryRecord>, sqlx::Error> {
        let sql = format!("{} WHERE b.id = $1", *BENEFICIARY_SELECT);
        on_tx!(self, conn => sqlx::query_as::<_, BeneficiaryRecord>(&sql)
            .bind(id)
            .fetch_optional(&mut **conn)
            .await)
    }

    /// Inserts a beneficiary; a taken national id surfaces as a unique violation.
    pub async fn insert_beneficiary(
        &mut self,
        id: Uuid,
        values: &BeneficiaryValues,
        created_by: Uuid,
        at: Timestamp,
    ) -> Result<(), sqlx::Error> {
        on_tx!(self, conn => bind_beneficiary!(sqlx::query(&BENEFICIARY_INSERT).bind(id), values)
            .bind(created_by)
            .bind(at)
            .execute(&mut **conn)
            .await
            .map(drop))
    }

    /// Replaces a beneficiary's values; a taken national id surfaces as a unique violation.
    pub async fn update_beneficiary(
        &mut self,
        id: Uuid,
        values: &BeneficiaryValues,
        at: Timestamp,
    ) -> Result<(), sqlx::Error> {
        on_tx!(self, conn => bind_beneficiary!(sqlx::query(&BENEFICIARY_UPDATE).bind(id), values)
            .bind(at)
            .execute(&mut **conn)
            .await
            .map(drop))
    }

    /// Deletes a beneficiary (their sessions go with them, by the foreign key); `false` if none.
    pub async fn delete_beneficiary(&mut self, id: Uuid) -> Result<bool, sqlx::Error> {
        on_tx!(self, conn => sqlx::query("DELETE FROM beneficiaries WHERE id = $1")
            .bind(id)
            .execute(&mut **conn)
            .await
            .map(|done| done.rows_affected() == 1))
    }

    /// A session, as this transaction sees it.
    pub async fn session(&mut self, id: Uuid) -> Result<Option<SessionRecord>, sqlx::Error> {
        let sql = format!("{} WHERE id = $1", *SESSION_SELECT);
        on_tx!(self, conn => sqlx::query_as::<_, SessionRecord>(&sql)
            .bind(id)
            .fetch_optional(&mut **conn)
            .await)
    }

    /// The number of a scheduled session of `therapist_id` on `day` that overlaps `start..end`,
    /// other than `except`. Call after [`Tx::lock_therapist`].
    pub async fn overlapping_session(
        &mut self,
        therapist_id: Uuid,
        day: Day,
        start: ClockTime,
        end: ClockTime,
        except: Uuid,
    ) -> Result<Option<String>, sqlx::Error> {
        on_tx!(self, conn => sqlx::query_scalar::<_, String>(
            "SELECT session_number FROM therapy_sessions \
             WHERE therapist_id = $1 AND session_date = $2 AND status = 'scheduled' \
             AND start_time < $4 AND end_time > $3 AND id <> $5 \
             ORDER BY start_time LIMIT 1",
        )
        .bind(therapist_id)
        .bind(day)
        .bind(start)
        .bind(end)
        .bind(except)
        .fetch_optional(&mut **conn)
        .await)
    }

    /// Inserts a session unless its number is taken (then `false`: draw another number).
    pub async fn insert_session(
        &mut self,
        id: Uuid,
        session_number: &str,
        beneficiary_id: Uuid,
        values: &SessionValues,
        created_by: Uuid,
        at: Timestamp,
    ) -> Result<bool, sqlx::Error> {
        on_tx!(self, conn => bind_session!(
            sqlx::query(&SESSION_INSERT).bind(id).bind(session_number).bind(beneficiary_id),
            values
        )
        .bind(created_by)
        .bind(at)
        .execute(&mut **conn)
        .await
        .map(|done| done.rows_affected() == 1))
    }

    /// Replaces a session's values.
    pub async fn update_session(
        &mut self,
        id: Uuid,
        values: &SessionValues,
        at: Timestamp,
    ) -> Result<(), sqlx::Error> {
        on_tx!(self, conn => bind_session!(sqlx::query(&SESSION_UPDATE).bind(id), values)
            .bind(at)
            .execute(&mut **conn)
            .await
            .map(drop))
    }
}
