//! `/branches/callback`: where the provider sends the person back after consent. Like the API's
//! `/api/v1/oauth/callback` it needs no sign-in — the single-use state authenticates it, and a
//! browser coming back from another site brings no `SameSite=Strict` cookie — and it shows the
//! result in the console's look: connected (with any warning, such as no refresh token), or
//! why not.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::connections::flow::CallbackQuery;
use crate::console::page::render;
use crate::console::session::failure;
use crate::http::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/branch_callback.html")]
struct ResultPage {
    connected: bool,
    message: String,
}

/// `GET /branches/callback?code=…&state=…`.
pub async fn callback(
    State(state): State<AppState>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        let page = ResultPage {
            connected: false,
            message:
                "The provider sent back an address this page cannot read: start connecting again."
                    .to_owned(),
        };
        return render(StatusCode::BAD_REQUEST, &page);
    };
    match state.connections.complete_authorization(query).await {
        Ok(connected) => render(
            StatusCode::OK,
            &ResultPage {
                // A consent without a required scope comes back too, but is not connected.
                connected: connected.status == "connected",
                message: connected.message,
            },
        ),
        Err(error) => match ApiError::from(error) {
            error @ (ApiError::BadRequest(_)
            | ApiError::BadGateway(_)
            | ApiError::GatewayTimeout(_)) => {
                let page = ResultPage {
                    connected: false,
                    message: error.to_string(),
                };
                render(error.status(), &page)
            }
            other => failure(&other),
        },
    }
}
