//! `/beneficiaries/{id}/log`: who read or changed the record, newest first.

use askama::Template;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use uuid::Uuid;

use super::not_found;
use crate::accounts::sessions::ClientInfo;
use crate::console::case_records::{refused, staff};
use crate::console::page::{error_page, render, when_exactly, Nav};
use crate::console::session::require;
use crate::resources::case_records::access_log::LogQuery;
use crate::resources::case_records::service::{self as case_records};
use crate::state::AppState;

struct LogRow {
    at: String,
    who: String,
    via: &'static str,
    action: String,
    fields: String,
}

#[derive(Template)]
#[template(path = "console/beneficiary_log.html")]
struct LogPage {
    nav: Nav,
    id: Uuid,
    rows: Vec<LogRow>,
    total: i64,
    /// Where the newer and older pages start, when there are such pages.
    newer: Option<i64>,
    older: Option<i64>,
}

/// `?offset=`: where the access log page starts.
#[derive(Debug, Default, Deserialize)]
pub struct LogParams {
    #[serde(default)]
    offset: Option<i64>,
}

/// `GET /beneficiaries/{id}/log`: who read or changed the record, newest first (admins and
/// managers).
pub async fn access_log(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/beneficiaries").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let Ok(Query(params)) = params else {
        let message = "This address's query is not one this page understands.";
        return (jar, error_page(StatusCode::BAD_REQUEST, message)).into_response();
    };
    let query = LogQuery {
        limit: Some(50),
        offset: params.offset,
    };
    let answer = match case_records::access_log(&state.store, &staff(&user), id, query).await {
        Ok(found) => render(
            StatusCode::OK,
            &LogPage {
                nav: Nav::of(&user),
                id,
                total: found.pagination.total,
                newer: (found.pagination.offset > 0)
                    .then(|| (found.pagination.offset - found.pagination.limit).max(0)),
                older: found
                    .pagination
                    .offset
                    .checked_add(found.pagination.limit)
                    .filter(|next| *next < found.pagination.total),
                rows: found
                    .rows
                    .into_iter()
                    .map(|entry| LogRow {
                        at: when_exactly(entry.occurred_at),
                        who: entry.username.unwrap_or_else(|| entry.user_id.to_string()),
                        via: entry.via,
                        action: entry.action,
                        fields: entry.fields.join(", "),
                    })
                    .collect(),
            },
        ),
        Err(error) => refused(error),
    };
    (jar, answer).into_response()
}
