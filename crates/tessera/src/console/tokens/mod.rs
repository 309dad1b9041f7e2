//! Tokens (GitHub's token settings are the model), over `tokens::service` like `/api/v1/tokens`:
//!
//! * this module — `/tokens`, the list;
//! * [`new`] — `/tokens/new`, the form, and the new token's secret, shown once;
//! * [`token`] — `/tokens/{id}`, a token's facts and its audit log, paged and filtered;
//! * [`regenerate`] — a new secret for a token after a confirmation, shown once;
//! * [`revoke`] — revoking after a confirmation.

pub mod new;
pub mod regenerate;
pub mod revoke;
pub mod token;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::page::{error_page, render, when, Nav};
use super::session::{failure, require};
use crate::accounts::sessions::ClientInfo;
use crate::state::AppState;
use crate::tokens::service as tokens;
use crate::tokens::{expiry, Token, TokenStatus};
use crate::types::Timestamp;

/// A token as the pages show it: never its secret.
struct TokenRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    last_used: String,
    expires: String,
    allowed_ips: String,
    status: &'static str,
    /// For a live token in its last days (the API's `Tessera-Token-Expires-Soon`): when, in
    /// words.
    expires_soon: Option<String>,
    active: bool,
    revoked: bool,
}

impl TokenRow {
    fn of(token: &Token, now: Timestamp) -> TokenRow {
        let status = token.status(now);
        TokenRow {
            id: token.id,
            name: token.name.clone(),
            prefix: token.prefix.clone(),
            scopes: token.scopes.to_strings().join(", "),
            created: when(token.created_at),
            last_used: match (token.last_used_at, &token.last_used_ip) {
                (None, _) => "never".to_owned(),
                (Some(at), Some(ip)) if !ip.is_empty() => format!("{} from {ip}", when(at)),
                (Some(at), _) => when(at),
            },
            expires: when(token.expires_at),
            allowed_ips: tokens::allowed_ip_strings(&token.allowed_ips)
                .map_or_else(|| "any".to_owned(), |nets| nets.join(", ")),
            status: match status {
                TokenStatus::Active => "active",
                TokenStatus::Expired => "expired",
                TokenStatus::Revoked => "revoked",
            },
            expires_soon: (status == TokenStatus::Active)
                .then(|| token.expires_at.datetime() - now.datetime())
                .filter(|left| *left <= expiry::SOON)
                // Days started count: a token made for 3 days says 3, not 2, a second later.
                .map(|left| match (left.whole_seconds() + 86_399) / 86_400 {
                    ..=1 => "expires within a day".to_owned(),
                    days => format!("expires in {days} days"),
                }),
            active: status == TokenStatus::Active,
            revoked: status == TokenStatus::Revoked,
        }
    }
}

#[derive(Template)]
#[template(path = "console/tokens.html")]
struct TokensPage {
    nav: Nav,
    tokens: Vec<TokenRow>,
}

/// `GET /tokens`.
pub async fn list(State(state): State<AppState>, client: ClientInfo, jar: CookieJar) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/tokens").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let page = match tokens::list_tokens(&state.store, user.user_id).await {
        Ok(mut list) => {
            list.sort_by_key(|token| std::cmp::Reverse(token.created_at));
            let now = Timestamp::now();
            render(
                StatusCode::OK,
                &TokensPage {
                    nav: Nav::of(&user),
                    tokens: list.iter().map(|t| TokenRow::of(t, now)).collect(),
                },
            )
        }
        Err(error) => failure(&error.into()),
    };
    (jar, page).into_response()
}

/// The page for a token id that is not one of the user's (or not an id at all).
fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Token not found")
}
