//! The connections over HTTP: which handler answers which route, and the one mapping of
//! [`ConnectionError`] to a status. The handlers are in a module per resource (`clients`,
//! `branches`, `flow`, `tokens`, `compat`); each parses the request, calls the
//! [`Connections`](super::Connections) service and renders the answer.

use crate::connections::links::LinkProblem;
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod branches;
mod clients;
mod compat;
mod flow;
mod tokens;

use super::errors::ConnectionError;
use super::oauth::ProviderError;
use crate::http::ApiError;
use crate::state::AppState;

impl From<ConnectionError> for ApiError {
    fn from(error: ConnectionError) -> Self {
        let message = error.to_string();
        match error {
            ConnectionError::Invalid(invalid) => invalid.into(),
            ConnectionError::ClientNotFound { .. }
            | ConnectionError::BranchNotFound { .. }
            | ConnectionError::BranchIdNotFound { .. }
            | ConnectionError::NoConnection { .. }
            | ConnectionError::ClientIdUnknown
            | ConnectionError::ClientIdUnused => ApiError::NotFound(message),
            ConnectionError::ClientIdTaken
            | ConnectionError::BranchIdTaken
            | ConnectionError::ClientInUse { .. }
            | ConnectionError::BranchConnected { .. }
            | ConnectionError::ClientIdShared { .. }
            | ConnectionError::ClientIdRedirectMismatch => ApiError::Conflict(message),
            // The branch exists but its grant cannot give a token now: a person must act.
            ConnectionError::BranchInactive { .. }
            | ConnectionError::InactiveBranchNotConnectable { .. }
            | ConnectionError::BranchClientGone { .. }
            | ConnectionError::NotConnected { .. }
            | ConnectionError::Disconnected { .. }
            | ConnectionError::NeedsReauth { .. }
            | ConnectionError::InsufficientScope { .. }
            | ConnectionError::NoRefreshToken { .. }
            | ConnectionError::ClientIncomplete { .. } => ApiError::Conflict(message),
            // The callback is a person's browser arriving from the provider: what it carries is
            // the request, so a failure to complete is the request's.
            ConnectionError::CallbackRefused(_) => ApiError::BadRequest(message),
            ConnectionError::ConnectLink(LinkProblem::Unknown) => ApiError::NotFound(message),
            ConnectionError::ConnectLink(LinkProblem::BranchInactive) => {
                ApiError::Conflict(message)
            }
            ConnectionError::ConnectLink(_) => ApiError::Gone(message),
            ConnectionError::Provider {
                error: ProviderError::Timeout(_),
                ..
            }
            | ConnectionError::RefreshTimedOut { .. } => ApiError::GatewayTimeout(message),
            ConnectionError::Provider { .. } | ConnectionError::CoolingDown { .. } => {
                ApiError::BadGateway(message)
            }
            ConnectionError::ShuttingDown => ApiError::Unavailable(message),
            ConnectionError::Broken(error) => ApiError::Internal(error),
            ConnectionError::Store(error) => error.into(),
        }
    }
}

/// The routes that take a JWT or a PAT (they go in the audited PAT group), with their
/// documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(
            clients::get_client,
            clients::update_client,
            clients::delete_client
        ))
        .routes(routes!(branches::list, branches::create))
        .routes(routes!(branches::get_by_branch_id))
        .routes(routes!(
            branches::get_branch,
            branches::update_branch,
            branches::delete_branch
        ))
        .routes(routes!(flow::start))
        .routes(routes!(flow::connect_link))
        .routes(routes!(tokens::get_token))
        .routes(routes!(tokens::validate_token))
        .routes(routes!(tokens::refresh_token))
        .routes(routes!(tokens::get_connection, tokens::disconnect))
        .routes(routes!(compat::create_client_and_branch))
        .routes(routes!(compat::login))
        .routes(routes!(compat::refresh))
        .routes(routes!(compat::token))
}

/// The callbacks: no token, the state authenticates them. The compatibility path is the same
/// handler and stays out of the document.
pub fn callback_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(flow::callback))
        .route("/token-management/auth/callback", get(flow::callback))
}
