//! A therapy session's fields: what the API shows, what a body may change, and how its status
//! may move. The operations, with the booking rules that need the database, are in `service.rs`.
//!
//! `status` moves by these routes only: `complete` → completed, `cancel` → cancelled, PATCH →
//! `no_show` or `rescheduled`; every move starts from `scheduled`. A new session is `scheduled`.

use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::input::{
    clock_time, date, list, named, one_of, optional, optional_text, required, Field, InvalidField,
    PageRequest, LONG_TEXT,
};
use super::service::CaseRecordsError;
pub use crate::store::SessionStatus;
use crate::store::{SessionQuery, SessionRecord, SessionValues};
use crate::types::{Day, Timestamp};

/// Allowed `session_type` values.
pub const SESSION_TYPES: &[&str] = &[
    "physical",
    "occupational",
    "speech",
    "behavioral",
    "psychological",
    "other",
];
/// Allowed `attendance_status` values.
pub const ATTENDANCE: &[&str] = &["present", "absent", "late", "early_departure"];
/// Allowed `engagement` values.
pub const ENGAGEMENT: &[&str] = &["excellent", "good", "fair", "poor"];
/// Statuses PATCH may set (from `scheduled`).
const PATCHABLE_STATUSES: [SessionStatus; 3] = [
    SessionStatus::Scheduled,
    SessionStatus::NoShow,
    SessionStatus::Rescheduled,
];

/// A session as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    /// Unique number, `TS-<booking date>-<8 random characters>`.
    pub session_number: String,
    /// The beneficiary.
    pub beneficiary_id: Uuid,
    /// The stored fields.
    #[serde(flatten)]
    pub values: SessionValues,
    /// Minutes from start to end.
    pub duration_minutes: i64,
    /// Who booked it.
    pub created_by: Uuid,
    /// Creation time (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last change (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<SessionRecord> for SessionView {
    fn from(record: SessionRecord) -> Self {
        SessionView {
            id: record.id,
            session_number: record.session_number,
            beneficiary_id: record.beneficiary_id,
            duration_minutes: record.values.end_time.minutes() - record.values.start_time.minutes(),
            values: record.values,
            created_by: record.created_by,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// Body of booking (session_type, session_date, start_time, end_time required) and of PATCH
/// (absent = unchanged, `null` clears an optional field). Unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SessionBody {
    /// Defaults to the caller; must be an existing user.
    #[schema(value_type = Option<Uuid>)]
    pub therapist_id: Field<Uuid>,
    /// physical, occupational, speech, behavioral, psychological or other.
    #[schema(value_type = Option<String>)]
    pub session_type: Field<String>,
    /// `YYYY-MM-DD`.
    #[schema(value_type = Option<String>, example = "2024-05-01")]
    pub session_date: Field<String>,
    /// `HH:MM`, 24-hour.
    #[schema(value_type = Option<String>, example = "09:00")]
    pub start_time: Field<String>,
    /// `HH:MM`, after start_time on the same day.
    #[schema(value_type = Option<String>, example = "10:00")]
    pub end_time: Field<String>,
    /// On PATCH of a scheduled session: `no_show` or `rescheduled`.
    #[schema(value_type = Option<String>)]
    pub status: Field<String>,
    #[schema(value_type = Option<Vec<String>>)]
    pub objectives: Field<Vec<String>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub activities: Field<Vec<String>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub goals_achieved: Field<Vec<String>>,
    #[schema(value_type = Option<String>)]
    pub notes: Field<String>,
    #[schema(value_type = Option<String>)]
    pub observations: Field<String>,
    #[schema(value_type = Option<String>)]
    pub recommendations: Field<String>,
    /// 1–10.
    #[schema(value_type = Option<i64>)]
    pub progress_rating: Field<i64>,
    /// present, absent, late or early_departure.
    #[schema(value_type = Option<String>)]
    pub attendance_status: Field<String>,
    /// excellent, good, fair or poor.
    #[schema(value_type = Option<String>)]
    pub engagement: Field<String>,
}

fn rating(raw: i64) -> Result<i32, InvalidField> {
    if (1..=10).contains(&raw) {
        Ok(raw as i32)
    } else {
        Err(InvalidField::new(
            "progress_rating must be between 1 and 10",
        ))
    }
}

/// The status a body asks for, checked against the session's current one (`None` on booking).
fn next_status(
    field: Field<String>,
    current: Option<SessionStatus>,
) -> Result<SessionStatus, CaseRecordsError> {
    let Some(current) = current else {
        return match field {
            Field::Absent => Ok(SessionStatus::Scheduled),
            Field::Value(raw) if raw == SessionStatus::Scheduled.as_str() => {
                Ok(SessionStatus::Scheduled)
            }
            _ => Err(
                InvalidField::new("status of a new session must be scheduled (or left out)").into(),
            ),
        };
    };
    let wanted = required("status", field, Some(current), |raw| named("status", &raw))?;
    if wanted == current {
        return Ok(wanted);
    }
    if !PATCHABLE_STATUSES.contains(&wanted) {
        return Err(InvalidField::new(
            "status can be set to no_show or rescheduled here; use POST /api/v1/sessions/{id}/complete or /cancel",
        )
        .into());
    }
    if current != SessionStatus::Scheduled {
        return Err(CaseRecordsError::NotScheduled {
            change: "change status",
            status: current,
        });
    }
    Ok(wanted)
}

/// Applies `body` onto `current` (`None` on booking, where the therapist defaults to `caller`).
pub fn apply(
    body: SessionBody,
    current: Option<&SessionValues>,
    caller: Uuid,
) -> Result<SessionValues, CaseRecordsError> {
    let cur_text = |f: fn(&SessionValues) -> Option<String>| current.and_then(f);
    let choice = |name: &'static str,
                  field,
                  allowed: &'static [&'static str],
                  f: fn(&SessionValues) -> Option<String>| {
        optional(field, cur_text(f), |raw: String| {
            one_of(name, &raw, allowed)
        })
    };
    let values = SessionValues {
        therapist_id: required(
            "therapist_id",
            body.therapist_id,
            Some(current.map_or(caller, |c| c.therapist_id)),
            Ok::<_, InvalidField>,
        )?,
        session_type: required(
            "session_type",
            body.session_type,
            cur_text(|c| Some(c.session_type.clone())),
            |raw| one_of("session_type", &raw, SESSION_TYPES),
        )?,
        session_date: required(
            "session_date",
            body.session_date,
            current.map(|c| c.session_date),
            |raw| date("session_date", &raw),
        )?,
        start_time: required(
            "start_time",
            body.start_time,
            current.map(|c| c.start_time),
            |raw| clock_time("start_time", &raw),
        )?,
        end_time: required(
            "end_time",
            body.end_time,
            current.map(|c| c.end_time),
            |raw| clock_time("end_time", &raw),
        )?,
        status: next_status(body.status, current.map(|c| c.status))?,
        objectives: list(
            "objectives",
            body.objectives,
            current.map(|c| c.objectives.clone()),
        )?,
        activities: list(
            "activities",
            body.activities,
            current.map(|c| c.activities.clone()),
        )?,
        goals_achieved: list(
            "goals_achieved",
            body.goals_achieved,
            current.map(|c| c.goals_achieved.clone()),
        )?,
        notes: optional_text(
            "notes",
            body.notes,
            cur_text(|c| c.notes.clone()),
            LONG_TEXT,
        )?,
        observations: optional_text(
            "observations",
            body.observations,
            cur_text(|c| c.observations.clone()),
            LONG_TEXT,
        )?,
        recommendations: optional_text(
            "recommendations",
            body.recommendations,
            cur_text(|c| c.recommendations.clone()),
            LONG_TEXT,
        )?,
        progress_rating: optional(
            body.progress_rating,
            current.and_then(|c| c.progress_rating),
            rating,
        )?,
        attendance_status: choice(
            "attendance_status",
            body.attendance_status,
            ATTENDANCE,
            |c| c.attendance_status.clone(),
        )?,
        engagement: choice("engagement", body.engagement, ENGAGEMENT, |c| {
            c.engagement.clone()
        })?,
        cancellation_reason: current.and_then(|c| c.cancellation_reason.clone()),
        completed_at: current.and_then(|c| c.completed_at),
        cancelled_at: current.and_then(|c| c.cancelled_at),
    };
    if values.end_time <= values.start_time {
        return Err(InvalidField::new("end_time must be after start_time").into());
    }
    Ok(values)
}

/// Names of the fields that differ (for the access log; never values).
pub fn changed_fields(old: &SessionValues, new: &SessionValues) -> Vec<String> {
    let mut changed = Vec::new();
    macro_rules! compare {
        ($($field:ident),*) => {$(
            if old.$field != new.$field {
                changed.push(stringify!($field).to_owned());
            }
        )*};
    }
    compare!(
        therapist_id,
        session_type,
        session_date,
        start_time,
        end_time,
        status,
        objectives,
        activities,
        goals_achieved,
        notes,
        observations,
        recommendations,
        progress_rating,
        attendance_status,
        engagement,
        cancellation_reason,
        completed_at,
        cancelled_at
    );
    changed
}

/// A fresh session number: `TS-`, today's date (UTC), and 8 Crockford base-32 characters (40
/// random bits). The UNIQUE index is the guarantee; a clash draws again (`service.rs`).
pub fn session_number() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::thread_rng();
    let suffix: String = (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..32)] as char)
        .collect();
    format!("TS-{}-{suffix}", Day::today().to_string().replace('-', ""))
}

/// Query of a beneficiary's session list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionListQuery {
    /// 1-based page (default 1).
    pub page: Option<i64>,
    /// Rows per page, 1–100 (default 20).
    pub per_page: Option<i64>,
    /// Only this status.
    pub status: Option<String>,
    /// From this date (inclusive), `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Through this date (inclusive), `YYYY-MM-DD`.
    pub to: Option<String>,
}

/// The store query a list request asks for.
pub fn session_query(
    query: SessionListQuery,
    page: PageRequest,
) -> Result<SessionQuery, InvalidField> {
    let from = query
        .from
        .as_deref()
        .map(|raw| date("from", raw))
        .transpose()?;
    let to = query.to.as_deref().map(|raw| date("to", raw)).transpose()?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(InvalidField::new("from must not be after to"));
        }
    }
    Ok(SessionQuery {
        status: query.status.map(|raw| named("status", &raw)).transpose()?,
        from,
        to,
        limit: page.per_page,
        offset: page.offset(),
    })
}

/// Body of `POST /api/v1/sessions/{id}/complete`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// 1–10 (required); `rating`, the spec's word, is accepted too.
    #[serde(alias = "rating")]
    pub progress_rating: i64,
    /// Replaces the notes if given.
    pub notes: Option<String>,
    /// Replaces the goals achieved if given; `goals` is accepted too.
    #[serde(alias = "goals")]
    pub goals_achieved: Option<Vec<String>>,
    /// present, absent, late or early_departure.
    pub attendance_status: Option<String>,
    /// excellent, good, fair or poor.
    pub engagement: Option<String>,
    /// Replaces the observations if given.
    pub observations: Option<String>,
    /// Replaces the recommendations if given.
    pub recommendations: Option<String>,
}

/// The values of `current` completed as `body` says.
pub fn completed(
    body: CompleteBody,
    current: &SessionValues,
) -> Result<SessionValues, InvalidField> {
    let given = |value: Option<String>| value.map_or(Field::Absent, Field::Value);
    let choice = |name, value: Option<String>, allowed, now: &Option<String>| {
        optional(given(value), now.clone(), |raw| one_of(name, &raw, allowed))
    };
    Ok(SessionValues {
        status: SessionStatus::Completed,
        completed_at: Some(Timestamp::now()),
        progress_rating: Some(rating(body.progress_rating)?),
        notes: optional_text("notes", given(body.notes), current.notes.clone(), LONG_TEXT)?,
        goals_achieved: list(
            "goals_achieved",
            body.goals_achieved.map_or(Field::Absent, Field::Value),
            Some(current.goals_achieved.clone()),
        )?,
        attendance_status: choice(
            "attendance_status",
            body.attendance_status,
            ATTENDANCE,
            &current.attendance_status,
        )?,
        engagement: choice(
            "engagement",
            body.engagement,
            ENGAGEMENT,
            &current.engagement,
        )?,
        observations: optional_text(
            "observations",
            given(body.observations),
            current.observations.clone(),
            LONG_TEXT,
        )?,
        recommendations: optional_text(
            "recommendations",
            given(body.recommendations),
            current.recommendations.clone(),
            LONG_TEXT,
        )?,
        ..current.clone()
    })
}

/// Body of `POST /api/v1/sessions/{id}/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why (required, stored as `cancellation_reason`).
    pub reason: String,
}

/// Query of `GET /api/v1/sessions/upcoming`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpcomingQuery {
    /// Days ahead, 1–90 (default 7): today through today + days (UTC dates).
    pub days: Option<i64>,
}
