//! The FCS routes of the PAT contract, guarded by their scopes.
//!
//! The FCS engine (`crates/fcs`) and these handlers' bodies arrive with the FCS issue. Until then
//! each route authenticates and checks its scope exactly as it will for real (so the scope matrix
//! and the audit log already cover them) and then answers `501 Not Implemented` in the envelope.

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;
use crate::http::ApiError;
use crate::tokens::scopes::{FcsAnalyze, FcsRead, FcsWrite, RequiredScope};
use crate::tokens::Pat;

/// The `/api/v1/fcs` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/fcs/parameters", get(pending::<FcsRead>))
        .route("/api/v1/fcs/events", get(pending::<FcsRead>))
        .route("/api/v1/fcs/upload", post(pending::<FcsWrite>))
        .route("/api/v1/fcs/statistics", get(pending::<FcsAnalyze>))
}

async fn pending<R: RequiredScope>(_pat: Pat<R>) -> ApiError {
    ApiError::NotImplemented("The FCS endpoints are not available in this version yet".to_owned())
}
