//! Therapy sessions: book, list, read, update, complete, cancel, and a therapist's upcoming ones.
//!
//! Booking rules that need the database run in one transaction that first locks what they depend
//! on, always in the same order (beneficiary → session → therapist, so two requests never wait on
//! each other in a cycle):
//! * a therapist cannot hold two overlapping *scheduled* sessions on a day (409): checked after
//!   [`CaseTx::lock_therapist`], so concurrent bookings for one therapist are serialised;
//! * only a scheduled session can be completed, cancelled or change status (409): checked after
//!   [`CaseTx::lock_session`].
//!
//! `status` moves by these routes only: `complete` → completed, `cancel` → cancelled, PATCH →
//! `no_show` or `rescheduled`; every move starts from `scheduled`. A new session is `scheduled`.

use axum::extract::State;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::beneficiaries::not_found as beneficiary_not_found;
use super::input::{
    clock_time, date, list, one_of, optional, optional_text, required, unknown_therapist, Field,
    InvalidField, PageRequest, Paged, LONG_TEXT,
};
use super::rules::{authorize, Action};
use crate::auth::Caller;
use crate::http::extract::{Json, Path, Query};
use crate::http::openapi::{Enveloped, ErrorEnvelope};
use crate::http::{created, ok, ApiError, ApiResult, Success};
use crate::state::AppState;
use crate::store::{AccessEntry, Actor, CaseTx, SessionQuery, SessionRecord, SessionValues};
use crate::tokens::scopes::{BeneficiariesRead, BeneficiariesWrite};
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
/// Allowed `status` values.
pub const STATUSES: &[&str] = &[
    "scheduled",
    "completed",
    "cancelled",
    "no_show",
    "rescheduled",
];
/// Allowed `attendance_status` values.
pub const ATTENDANCE: &[&str] = &["present", "absent", "late", "early_departure"];
/// Allowed `engagement` values.
pub const ENGAGEMENT: &[&str] = &["excellent", "good", "fair", "poor"];
/// Statuses PATCH may set (from `scheduled`).
const PATCHABLE_STATUSES: &[&str] = &["scheduled", "no_show", "rescheduled"];
const SCHEDULED: &str = "scheduled";

/// A session as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Id.
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
#[allow(missing_docs)]
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
fn next_status(field: Field<String>, current: Option<&str>) -> Result<String, ApiError> {
    let Some(current) = current else {
        return match field {
            Field::Absent => Ok(SCHEDULED.to_owned()),
            Field::Value(raw) if raw == SCHEDULED => Ok(raw),
            _ => Err(ApiError::invalid(
                "status of a new session must be scheduled (or left out)",
            )),
        };
    };
    let wanted = required("status", field, Some(current.to_owned()), |raw| {
        one_of("status", &raw, STATUSES)
    })?;
    if wanted == current {
        return Ok(wanted);
    }
    if !PATCHABLE_STATUSES.contains(&wanted.as_str()) {
        return Err(ApiError::invalid(
            "status can be set to no_show or rescheduled here; use POST /api/v1/sessions/{id}/complete or /cancel",
        ));
    }
    if current != SCHEDULED {
        return Err(ApiError::Conflict(format!(
            "Only a scheduled session can change status; this one is {current}"
        )));
    }
    Ok(wanted)
}

/// Applies `body` onto `current` (`None` on booking, where the therapist defaults to `caller`).
pub fn apply(
    body: SessionBody,
    current: Option<&SessionValues>,
    caller: Uuid,
) -> Result<SessionValues, ApiError> {
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
        status: next_status(body.status, current.map(|c| c.status.as_str()))?,
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
        return Err(ApiError::invalid("end_time must be after start_time"));
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
/// random bits). The UNIQUE index is the guarantee; a clash draws again ([`book`]).
pub fn session_number() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut rng = rand::thread_rng();
    let suffix: String = (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..32)] as char)
        .collect();
    format!("TS-{}-{suffix}", Day::today().to_string().replace('-', ""))
}

/// 404 for a session id that does not exist.
pub fn not_found() -> ApiError {
    ApiError::NotFound("Therapy session not found".to_owned())
}

fn session_entry(
    record: &SessionRecord,
    actor: Actor,
    action: &'static str,
    fields: Vec<String>,
) -> AccessEntry<'static> {
    AccessEntry {
        beneficiary_id: record.beneficiary_id,
        session_id: Some(record.id),
        actor,
        action,
        fields,
        at: Timestamp::now(),
    }
}

/// Locks the therapist and refuses a scheduled session that overlaps another of theirs (409).
async fn check_availability(tx: &mut CaseTx, id: Uuid, values: &SessionValues) -> ApiResult<()> {
    tx.lock_therapist(values.therapist_id)
        .await
        .map_err(unknown_therapist)?;
    if values.status != SCHEDULED {
        return Ok(());
    }
    let clash = tx
        .overlapping_session(
            values.therapist_id,
            values.session_date,
            values.start_time,
            values.end_time,
            id,
        )
        .await?;
    match clash {
        Some(number) => Err(ApiError::Conflict(format!(
            "The therapist already has scheduled session {number} overlapping {}–{} on {}",
            values.start_time, values.end_time, values.session_date
        ))),
        None => Ok(()),
    }
}

/// Inserts a session, drawing a new number on the (unlikely) clash of a random one.
async fn book(
    tx: &mut CaseTx,
    id: Uuid,
    beneficiary_id: Uuid,
    values: &SessionValues,
    actor: Actor,
) -> ApiResult<()> {
    for _ in 0..5 {
        if tx
            .insert_session(
                id,
                &session_number(),
                beneficiary_id,
                values,
                actor.user_id,
                Timestamp::now(),
            )
            .await?
        {
            return Ok(());
        }
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "five session-number clashes in a row"
    )))
}

/// `POST /api/v1/beneficiaries/{id}/sessions`: book a session (logged as `session.create`).
#[utoipa::path(post, path = "/api/v1/beneficiaries/{id}/sessions", tag = "case-records",
    params(("id" = Uuid, Path, description = "Beneficiary id")),
    request_body = SessionBody,
    security(("jwt" = []), ("pat" = ["beneficiaries:write"])),
    responses(
        (status = 201, description = "Booked", body = inline(Enveloped<SessionView>)),
        (status = 403, description = "Your role may not book sessions (only admins, managers and therapists book)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such beneficiary", body = ErrorEnvelope),
        (status = 409, description = "The therapist has an overlapping scheduled session", body = ErrorEnvelope),
        (status = 422, description = "A field is missing or invalid (the message names it)", body = ErrorEnvelope),
    ))]
pub async fn create_session(
    caller: Caller<BeneficiariesWrite>,
    State(state): State<AppState>,
    Path(beneficiary_id): Path<Uuid>,
    body: Result<Json<SessionBody>, ApiError>,
) -> ApiResult<Success<SessionView>> {
    let actor = authorize(&caller, &state, Action::CreateSession).await?;
    let values = apply(body?.0, None, actor.user_id)?;
    let id = Uuid::now_v7();
    let mut tx = state.store.begin_case().await?;
    if !tx.lock_beneficiary(beneficiary_id).await? {
        return Err(beneficiary_not_found());
    }
    check_availability(&mut tx, id, &values).await?;
    book(&mut tx, id, beneficiary_id, &values, actor).await?;
    let record = tx.session(id).await?.ok_or_else(not_found)?;
    tx.log(&session_entry(&record, actor, "session.create", Vec::new()))
        .await?;
    tx.commit().await?;
    Ok(created(record.into()))
}

/// Query of a beneficiary's session list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionListQuery {
    /// 1-based page (default 1).
    page: Option<i64>,
    /// Rows per page, 1–100 (default 20).
    per_page: Option<i64>,
    /// Only this status.
    status: Option<String>,
    /// From this date (inclusive), `YYYY-MM-DD`.
    from: Option<String>,
    /// Through this date (inclusive), `YYYY-MM-DD`.
    to: Option<String>,
}

fn session_query(query: SessionListQuery, page: PageRequest) -> Result<SessionQuery, ApiError> {
    let from = query
        .from
        .as_deref()
        .map(|raw| date("from", raw))
        .transpose()?;
    let to = query.to.as_deref().map(|raw| date("to", raw)).transpose()?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ApiError::invalid("from must not be after to"));
        }
    }
    Ok(SessionQuery {
        status: query
            .status
            .map(|raw| one_of("status", &raw, STATUSES))
            .transpose()?,
        from,
        to,
        limit: page.per_page,
        offset: page.offset(),
    })
}

/// `GET /api/v1/beneficiaries/{id}/sessions`: newest first (logged as `session.list`).
#[utoipa::path(get, path = "/api/v1/beneficiaries/{id}/sessions", tag = "case-records",
    params(("id" = Uuid, Path, description = "Beneficiary id"), SessionListQuery),
    security(("jwt" = []), ("pat" = ["beneficiaries:read"])),
    responses(
        (status = 200, description = "`{success, data: [session], pagination}`", body = inline(super::input::Paged<SessionView>)),
        (status = 403, description = "Your role may not read sessions (data entry, members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such beneficiary", body = ErrorEnvelope),
        (status = 422, description = "A parameter is invalid", body = ErrorEnvelope),
    ))]
pub async fn list_sessions(
    caller: Caller<BeneficiariesRead>,
    State(state): State<AppState>,
    Path(beneficiary_id): Path<Uuid>,
    Query(query): Query<SessionListQuery>,
) -> ApiResult<Paged<SessionView>> {
    let actor = authorize(&caller, &state, Action::ReadSession).await?;
    let page = PageRequest::new(query.page, query.per_page)?;
    let query = session_query(query, page)?;
    let mut tx = state.store.begin_case().await?;
    tx.log(&AccessEntry {
        beneficiary_id,
        session_id: None,
        actor,
        action: "session.list",
        fields: Vec::new(),
        at: Timestamp::now(),
    })
    .await?;
    if tx.beneficiary(beneficiary_id).await?.is_none() {
        return Err(beneficiary_not_found());
    }
    tx.commit().await?;
    let (rows, total) = state.store.list_sessions(beneficiary_id, &query).await?;
    Ok(Paged {
        success: true,
        data: rows.into_iter().map(SessionView::from).collect(),
        pagination: page.pagination(total),
    })
}

/// `GET /api/v1/sessions/{id}` (logged as `session.read`).
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "case-records",
    params(("id" = Uuid, Path, description = "Session id")),
    security(("jwt" = []), ("pat" = ["beneficiaries:read"])),
    responses(
        (status = 200, description = "The session", body = inline(Enveloped<SessionView>)),
        (status = 403, description = "Your role may not read sessions (data entry, members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such session", body = ErrorEnvelope),
    ))]
pub async fn get_session(
    caller: Caller<BeneficiariesRead>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<SessionView>> {
    let actor = authorize(&caller, &state, Action::ReadSession).await?;
    let mut tx = state.store.begin_case().await?;
    if !tx
        .log_session(id, actor, "session.read", Timestamp::now())
        .await?
    {
        return Err(not_found());
    }
    let record = tx.session(id).await?.ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(ok(record.into()))
}

/// Locks session `id` and reads it; 404 if there is none.
async fn locked_session(tx: &mut CaseTx, id: Uuid) -> ApiResult<SessionRecord> {
    if tx.lock_session(id).await?.is_none() {
        return Err(not_found());
    }
    tx.session(id).await?.ok_or_else(not_found)
}

/// Writes `values` over the locked session `current`, logs `action` with the changed fields and
/// commits; returns the session as stored.
async fn save(
    mut tx: CaseTx,
    current: SessionRecord,
    values: SessionValues,
    actor: Actor,
    action: &'static str,
) -> ApiResult<SessionView> {
    let changed = changed_fields(&current.values, &values);
    if !changed.is_empty() {
        tx.update_session(current.id, &values, Timestamp::now())
            .await?;
    }
    tx.log(&session_entry(&current, actor, action, changed))
        .await?;
    let record = tx.session(current.id).await?.ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(record.into())
}

/// `PATCH /api/v1/sessions/{id}` (logged as `session.update` with the changed fields).
#[utoipa::path(patch, path = "/api/v1/sessions/{id}", tag = "case-records",
    params(("id" = Uuid, Path, description = "Session id")),
    request_body = SessionBody,
    security(("jwt" = []), ("pat" = ["beneficiaries:write"])),
    responses(
        (status = 200, description = "The updated session", body = inline(Enveloped<SessionView>)),
        (status = 403, description = "Your role may not change sessions (data entry, members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such session", body = ErrorEnvelope),
        (status = 409, description = "Overlap, or a status change of a session that is no longer scheduled", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ))]
pub async fn update_session(
    caller: Caller<BeneficiariesWrite>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Result<Json<SessionBody>, ApiError>,
) -> ApiResult<Success<SessionView>> {
    let actor = authorize(&caller, &state, Action::UpdateSession).await?;
    let body = body?.0;
    let mut tx = state.store.begin_case().await?;
    let current = locked_session(&mut tx, id).await?;
    let values = apply(body, Some(&current.values), actor.user_id)?;
    check_availability(&mut tx, id, &values).await?;
    Ok(ok(save(tx, current, values, actor, "session.update").await?))
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

fn completed(body: CompleteBody, current: &SessionValues) -> Result<SessionValues, ApiError> {
    let given = |value: Option<String>| value.map_or(Field::Absent, Field::Value);
    let choice = |name, value: Option<String>, allowed, now: &Option<String>| {
        optional(given(value), now.clone(), |raw| one_of(name, &raw, allowed))
    };
    Ok(SessionValues {
        status: "completed".to_owned(),
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

fn must_be_scheduled(record: &SessionRecord, verb: &str) -> ApiResult<()> {
    if record.values.status != SCHEDULED {
        return Err(ApiError::Conflict(format!(
            "Only a scheduled session can be {verb}; this one is {}",
            record.values.status
        )));
    }
    Ok(())
}

/// `POST /api/v1/sessions/{id}/complete` (logged as `session.complete`).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/complete", tag = "case-records",
    params(("id" = Uuid, Path, description = "Session id")),
    request_body = CompleteBody,
    security(("jwt" = []), ("pat" = ["beneficiaries:write"])),
    responses(
        (status = 200, description = "The completed session", body = inline(Enveloped<SessionView>)),
        (status = 403, description = "Your role may not change sessions (data entry, members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such session", body = ErrorEnvelope),
        (status = 409, description = "The session is not scheduled", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid", body = ErrorEnvelope),
    ))]
pub async fn complete_session(
    caller: Caller<BeneficiariesWrite>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Result<Json<CompleteBody>, ApiError>,
) -> ApiResult<Success<SessionView>> {
    let actor = authorize(&caller, &state, Action::UpdateSession).await?;
    let body = body?.0;
    let mut tx = state.store.begin_case().await?;
    let current = locked_session(&mut tx, id).await?;
    must_be_scheduled(&current, "completed")?;
    let values = completed(body, &current.values)?;
    Ok(ok(
        save(tx, current, values, actor, "session.complete").await?
    ))
}

/// Body of `POST /api/v1/sessions/{id}/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why (required, stored as `cancellation_reason`).
    pub reason: String,
}

/// `POST /api/v1/sessions/{id}/cancel` (logged as `session.cancel`).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/cancel", tag = "case-records",
    params(("id" = Uuid, Path, description = "Session id")),
    request_body = CancelBody,
    security(("jwt" = []), ("pat" = ["beneficiaries:write"])),
    responses(
        (status = 200, description = "The cancelled session", body = inline(Enveloped<SessionView>)),
        (status = 403, description = "Your role may not change sessions (data entry, members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such session", body = ErrorEnvelope),
        (status = 409, description = "The session is not scheduled", body = ErrorEnvelope),
        (status = 422, description = "reason is missing or empty", body = ErrorEnvelope),
    ))]
pub async fn cancel_session(
    caller: Caller<BeneficiariesWrite>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Result<Json<CancelBody>, ApiError>,
) -> ApiResult<Success<SessionView>> {
    let actor = authorize(&caller, &state, Action::UpdateSession).await?;
    let reason = super::input::required_text("reason", Field::Value(body?.0.reason), None, 1_000)?;
    let mut tx = state.store.begin_case().await?;
    let current = locked_session(&mut tx, id).await?;
    must_be_scheduled(&current, "cancelled")?;
    let values = SessionValues {
        status: "cancelled".to_owned(),
        cancellation_reason: Some(reason),
        cancelled_at: Some(Timestamp::now()),
        ..current.values.clone()
    };
    Ok(ok(save(tx, current, values, actor, "session.cancel").await?))
}

/// Query of `GET /api/v1/sessions/upcoming`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpcomingQuery {
    /// Days ahead, 1–90 (default 7): today through today + days (UTC dates).
    days: Option<i64>,
}

/// `GET /api/v1/sessions/upcoming`: the caller's scheduled sessions, in time order (each logged
/// as `session.upcoming` on its beneficiary's record).
#[utoipa::path(get, path = "/api/v1/sessions/upcoming", tag = "case-records", params(UpcomingQuery),
    security(("jwt" = []), ("pat" = ["beneficiaries:read"])),
    responses(
        (status = 200, description = "The caller's scheduled sessions", body = inline(Enveloped<Vec<SessionView>>)),
        (status = 403, description = "Your role may not read sessions (data entry, members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "days out of range", body = ErrorEnvelope),
    ))]
pub async fn upcoming_sessions(
    caller: Caller<BeneficiariesRead>,
    State(state): State<AppState>,
    Query(query): Query<UpcomingQuery>,
) -> ApiResult<Success<Vec<SessionView>>> {
    let actor = authorize(&caller, &state, Action::ReadSession).await?;
    let days = query.days.unwrap_or(7);
    if !(1..=90).contains(&days) {
        return Err(ApiError::invalid("days must be between 1 and 90"));
    }
    let today = Day::today();
    let rows = state
        .store
        .upcoming_sessions(actor.user_id, today, today.plus_days(days))
        .await?;
    if !rows.is_empty() {
        let mut tx = state.store.begin_case().await?;
        for row in &rows {
            tx.log(&session_entry(row, actor, "session.upcoming", Vec::new()))
                .await?;
        }
        tx.commit().await?;
    }
    Ok(ok(rows.into_iter().map(SessionView::from).collect()))
}
