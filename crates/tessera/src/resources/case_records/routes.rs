//! The case records over HTTP: each handler parses the request, builds the [`Staff`] acting
//! (a JWT's role, or a PAT's owner's current role), calls the service and renders the envelope.
//! [`CaseRecordsError`] becomes a status in one place, below.
//!
//! Every route takes a staff JWT or a PAT with a `beneficiaries` scope ([`Caller`]); the routes sit
//! in the PAT group of the router, so PAT uses are also in the token's audit log.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::access_log::{LogPage, LogQuery};
use super::beneficiaries::{BeneficiaryBody, BeneficiaryDeleted, BeneficiaryView, ListQuery};
use super::input::{Page, Paged};
use super::rules::{Action, Staff};
use super::service::{self, CaseRecordsError};
use super::therapy_sessions::{
    CancelBody, CompleteBody, SessionBody, SessionListQuery, SessionView, UpcomingQuery,
};
use crate::auth::{Caller, Credential};
use crate::http::extract::{Json, Path, Query};
use crate::http::openapi::{Enveloped, ErrorEnvelope};
use crate::http::{created, ok, ApiError, ApiResult, Success};
use crate::state::AppState;
use crate::store::{Actor, Store};
use crate::tokens::scopes::{
    BeneficiariesDelete, BeneficiariesRead, BeneficiariesWrite, RequiredScope,
};

impl From<CaseRecordsError> for ApiError {
    fn from(error: CaseRecordsError) -> Self {
        let message = error.to_string();
        match error {
            CaseRecordsError::Invalid(invalid) => invalid.into(),
            CaseRecordsError::Forbidden { .. } => ApiError::Forbidden(message),
            CaseRecordsError::BeneficiaryNotFound { .. }
            | CaseRecordsError::SessionNotFound { .. } => ApiError::NotFound(message),
            CaseRecordsError::NationalIdTaken { .. }
            | CaseRecordsError::TherapistBusy { .. }
            | CaseRecordsError::NotScheduled { .. } => ApiError::Conflict(message),
            CaseRecordsError::SessionNumbersExhausted => {
                ApiError::Internal(anyhow::Error::new(error))
            }
            CaseRecordsError::Store(error) => error.into(),
        }
    }
}

impl<T> From<Page<T>> for Paged<T> {
    fn from(page: Page<T>) -> Self {
        Paged {
            success: true,
            data: page.rows,
            pagination: page.pagination,
        }
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Paged<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self).into_response()
    }
}

/// The case-records routes, with their documentation. `/api/v1/sessions/upcoming` is a static
/// segment, which axum prefers over `/api/v1/sessions/{id}`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list_beneficiaries, create))
        .routes(routes!(
            get_beneficiary,
            update_beneficiary,
            delete_beneficiary
        ))
        .routes(routes!(list_sessions, create_session))
        .routes(routes!(access_log))
        .routes(routes!(upcoming_sessions))
        .routes(routes!(get_session, update_session))
        .routes(routes!(complete_session))
        .routes(routes!(cancel_session))
}

/// Who acts, with the role they act with now: a PAT acts with its owner's *current* role.
async fn staff<R: RequiredScope>(caller: &Caller<R>, store: &Store) -> ApiResult<Staff> {
    Ok(Staff {
        role: caller.role(store).await?,
        actor: Actor {
            user_id: caller.user_id,
            token_id: match caller.credential {
                Credential::Pat { token_id, .. } => Some(token_id),
                Credential::Jwt { .. } => None,
            },
        },
    })
}

/// `POST /api/v1/beneficiaries`.
#[utoipa::path(post, path = "/api/v1/beneficiaries", tag = "case-records",
    request_body = BeneficiaryBody,
    security(("jwt" = []), ("pat" = ["beneficiaries:write"])),
    responses(
        (status = 201, description = "Created", body = inline(crate::http::openapi::Enveloped<BeneficiaryView>)),
        (status = 403, description = "Scope or role does not allow it", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "national_id already taken", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field is missing or invalid (the message names it)", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn create(
    caller: Caller<BeneficiariesWrite>,
    State(state): State<AppState>,
    body: Result<Json<BeneficiaryBody>, ApiError>,
) -> ApiResult<Success<BeneficiaryView>> {
    let staff = staff(&caller, &state.store).await?;
    // The role is checked before the body is read (the service checks it again), so a caller
    // who may not act learns nothing from a malformed body either.
    staff.may(Action::CreateBeneficiary)?;
    let body = body?.0;
    let view = service::create_beneficiary(&state.store, &staff, body).await?;
    Ok(created(view))
}

/// `GET /api/v1/beneficiaries`: every beneficiary returned is logged as `beneficiary.list`.
#[utoipa::path(get, path = "/api/v1/beneficiaries", tag = "case-records", params(ListQuery),
    security(("jwt" = []), ("pat" = ["beneficiaries:read"])),
    responses(
        (status = 200, description = "`{success, data: [beneficiary], pagination: {page, per_page, total, pages}}`", body = inline(super::input::Paged<BeneficiaryView>)),
        (status = 403, description = "Your role may not read case records (members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A parameter is out of range or not allowed", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn list_beneficiaries(
    caller: Caller<BeneficiariesRead>,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Paged<BeneficiaryView>> {
    let staff = staff(&caller, &state.store).await?;
    Ok(service::list_beneficiaries(&state.store, &staff, query)
        .await?
        .into())
}

/// `GET /api/v1/beneficiaries/{id}`: logged as `beneficiary.read`.
#[utoipa::path(get, path = "/api/v1/beneficiaries/{id}", tag = "case-records",
    params(("id" = Uuid, Path, description = "Beneficiary id")),
    security(("jwt" = []), ("pat" = ["beneficiaries:read"])),
    responses(
        (status = 200, description = "The beneficiary", body = inline(crate::http::openapi::Enveloped<BeneficiaryView>)),
        (status = 403, description = "Your role may not read case records (members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such beneficiary", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn get_beneficiary(
    caller: Caller<BeneficiariesRead>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<BeneficiaryView>> {
    let staff = staff(&caller, &state.store).await?;
    Ok(ok(service::beneficiary(&state.store, &staff, id).await?))
}

/// `PATCH /api/v1/beneficiaries/{id}`: logged as `beneficiary.update` with the changed fields.
#[utoipa::path(patch, path = "/api/v1/beneficiaries/{id}", tag = "case-records",
    params(("id" = Uuid, Path, description = "Beneficiary id")),
    request_body = BeneficiaryBody,
    security(("jwt" = []), ("pat" = ["beneficiaries:write"])),
    responses(
        (status = 200, description = "The updated beneficiary", body = inline(crate::http::openapi::Enveloped<BeneficiaryView>)),
        (status = 403, description = "Your role may not update beneficiaries (therapists, members)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such beneficiary", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "national_id already taken", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "A field is invalid or a required one was nulled", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn update_beneficiary(
    caller: Caller<BeneficiariesWrite>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    body: Result<Json<BeneficiaryBody>, ApiError>,
) -> ApiResult<Success<BeneficiaryView>> {
    let staff = staff(&caller, &state.store).await?;
    // The role is checked before the body is read (the service checks it again), so a caller
    // who may not act learns nothing from a malformed body either.
    staff.may(Action::UpdateBeneficiary)?;
    let body = body?.0;
    Ok(ok(service::update_beneficiary(
        &state.store,
        &staff,
        id,
        body,
    )
    .await?))
}

/// `DELETE /api/v1/beneficiaries/{id}`: deletes the sessions too; the access log is kept.
#[utoipa::path(delete, path = "/api/v1/beneficiaries/{id}", tag = "case-records",
    params(("id" = Uuid, Path, description = "Beneficiary id")),
    security(("jwt" = []), ("pat" = ["beneficiaries:delete"])),
    responses(
        (status = 200, description = "Deleted with their sessions", body = inline(crate::http::openapi::Enveloped<BeneficiaryDeleted>)),
        (status = 403, description = "Only admins and managers delete", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such beneficiary", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn delete_beneficiary(
    caller: Caller<BeneficiariesDelete>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Success<BeneficiaryDeleted>> {
    let staff = staff(&caller, &state.store).await?;
    Ok(ok(
        service::delete_beneficiary(&state.store, &staff, id).await?
    ))
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
    let staff = staff(&caller, &state.store).await?;
    // The role is checked before the body is read (the service checks it again), so a caller
    // who may not act learns nothing from a malformed body either.
    staff.may(Action::CreateSession)?;
    let body = body?.0;
    let view = service::book_session(&state.store, &staff, beneficiary_id, body).await?;
    Ok(created(view))
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
    let staff = staff(&caller, &state.store).await?;
    Ok(
        service::list_sessions(&state.store, &staff, beneficiary_id, query)
            .await?
            .into(),
    )
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
    let staff = staff(&caller, &state.store).await?;
    Ok(ok(service::session(&state.store, &staff, id).await?))
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
    let staff = staff(&caller, &state.store).await?;
    // The role is checked before the body is read (the service checks it again), so a caller
    // who may not act learns nothing from a malformed body either.
    staff.may(Action::UpdateSession)?;
    let body = body?.0;
    Ok(ok(
        service::update_session(&state.store, &staff, id, body).await?
    ))
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
    let staff = staff(&caller, &state.store).await?;
    // The role is checked before the body is read (the service checks it again), so a caller
    // who may not act learns nothing from a malformed body either.
    staff.may(Action::UpdateSession)?;
    let body = body?.0;
    Ok(ok(service::complete_session(
        &state.store,
        &staff,
        id,
        body,
    )
    .await?))
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
    let staff = staff(&caller, &state.store).await?;
    // The role is checked before the body is read (the service checks it again), so a caller
    // who may not act learns nothing from a malformed body either.
    staff.may(Action::UpdateSession)?;
    let body = body?.0;
    Ok(ok(
        service::cancel_session(&state.store, &staff, id, body).await?
    ))
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
    let staff = staff(&caller, &state.store).await?;
    Ok(ok(
        service::upcoming_sessions(&state.store, &staff, query).await?
    ))
}

/// `GET /api/v1/beneficiaries/{id}/access-log` (admins and managers).
#[utoipa::path(get, path = "/api/v1/beneficiaries/{id}/access-log", tag = "case-records",
    params(("id" = Uuid, Path, description = "Beneficiary id (also of a deleted one)"), LogQuery),
    security(("jwt" = []), ("pat" = ["beneficiaries:read"])),
    responses(
        (status = 200, description = "Newest first", body = LogPage),
        (status = 403, description = "Not an admin or manager", body = ErrorEnvelope),
        (status = 404, description = "No such beneficiary, ever", body = ErrorEnvelope),
        (status = 422, description = "limit or offset out of range", body = ErrorEnvelope),
    ))]
pub async fn access_log(
    caller: Caller<BeneficiariesRead>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<LogQuery>,
) -> ApiResult<axum::Json<LogPage>> {
    let staff = staff(&caller, &state.store).await?;
    let page = service::access_log(&state.store, &staff, id, query).await?;
    Ok(axum::Json(LogPage {
        success: true,
        data: page.rows,
        pagination: page.pagination,
    }))
}
