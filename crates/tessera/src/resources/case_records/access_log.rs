//! Who read or changed a beneficiary's record: an entry as shown, and a page of them.
//!
//! Entries are written by every operation in the same transaction as what they record
//! (`service.rs`), and outlive the record on purpose.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::input::{InvalidField, Paging};
use crate::store::AccessLogRecord;
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
    pub limit: Option<i64>,
    /// Entries to skip (default 0).
    pub offset: Option<i64>,
}

impl LogQuery {
    /// `(limit, offset)` with their defaults, in range.
    pub fn checked(&self) -> Result<(i64, i64), InvalidField> {
        let page = Paging::read(self.limit, self.offset, DEFAULT_LIMIT, MAX_LIMIT)?;
        Ok((page.limit, page.offset))
    }
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
