//! `GET /api/v1/beneficiaries/{id}/access-log`: who read or changed a beneficiary's record.
//!
//! Entries are written by the other handlers in the same transaction as what they record. They
//! outlive the record on purpose: after a deletion an auditor can still see the deletion and
//! everything before it, so the log of a deleted beneficiary answers 200; an id never seen answers
//! 404. Reading the log is not itself logged (it is not a read of the record).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::beneficiaries::not_found;
use super::rules::{authorize, Action};
use crate::auth::Caller;
use crate::http::extract::{Path, Query};
use crate::http::openapi::ErrorEnvelope;
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::AccessLogRecord;
use crate::tokens::scopes::BeneficiariesRead;
use crate::types::Timestamp;

/// Entries per page when `limit` is not given.
const DEFAULT_LIMIT: i64 = 50;
/// Largest `limit` accepted.
const MAX_LIMIT: i64 = 200;

/// One entry as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessLogView {
    /// Entry id; higher is newer.
    pub id: i64,
    /// Whose record.
    pub beneficiary_id: Uuid,
    /// The session concerned, if any.
    pub session_id: Option<Uuid>,
    /// Who.
    pub user_id: Uuid,
    /// Their username.
    pub username: Option<String>,
    /// `jwt` or `pat`.
    pub via: &'static str,
    /// The PAT used, if any.
    pub token_id: Option<Uuid>,
    /// `beneficiary.create|read|list|update|delete`,
    /// `session.create|read|list|update|complete|cancel|upcoming`.
    pub action: String,
    /// Names of the changed fields (never their values).
    pub fields: Vec<String>,
    /// When (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
}

impl From<AccessLogRecord> for AccessLogView {
    fn from(record: AccessLogRecord) -> Self {
        AccessLogView {
            id: record.id,
            beneficiary_id: record.beneficiary_id,
            session_id: record.session_id,
            user_id: record.user_id,
            username: record.username,
            via: if record.token_id.is_some() {
                "pat"
            } else {
                "jwt"
            },
            token_id: record.token_id,
            action: record.action,
            fields: record.fields.0,
            occurred_at: record.occurred_at,
        }
    }
}

/// `?limit=&offset=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Entries per page, 1–200 (default 50).
    limit: Option<i64>,
    /// Entries to skip (default 0).
    offset: Option<i64>,
}

/// A page of the log: `{"success":true,"data":[…],"pagination":{"limit","offset","total"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    /// Always true.
    pub success: bool,
    /// Newest first.
    pub data: Vec<AccessLogView>,
    /// Where the page is.
    pub pagination: LogPagination,
}

/// `pagination` of a log page.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogPagination {
    /// Entries per page.
    pub limit: i64,
    /// Entries skipped.
    pub offset: i64,
    /// Entries overall.
    pub total: i64,
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
    authorize(&caller, &state, Action::ReadAccessLog).await?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let offset = query.offset.unwrap_or(0);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    if offset < 0 {
        return Err(ApiError::invalid("offset must be at least 0"));
    }
    if !state.store.beneficiary_known(id).await? {
        return Err(not_found());
    }
    let (rows, total) = state.store.access_log(id, limit, offset).await?;
    Ok(axum::Json(LogPage {
        success: true,
        data: rows.into_iter().map(AccessLogView::from).collect(),
        pagination: LogPagination {
            limit,
            offset,
            total,
        },
    }))
}
