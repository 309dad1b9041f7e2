//! `/tokens/{id}`: one token's facts, its actions, and its audit log: every request that
//! presented it, newest first, a page at a time, all or only the allowed or the refused ones.

use askama::Template;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use uuid::Uuid;

use super::{not_found, TokenRow};
use crate::accounts::sessions::ClientInfo;
use crate::console::page::{error_page, render, when_exactly, Nav};
use crate::console::session::{failure, require};
use crate::state::AppState;
use crate::store::{AuditEntry, AuditFilter};
use crate::tokens::service as tokens;
use crate::types::Timestamp;

/// Audit entries on one page.
const LOG_PAGE: u32 = 25;

/// The page's query: `?result=allowed&page=2`.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    /// `all` (the default), `allowed` or `refused`.
    result: Option<String>,
    /// 1-based; 1 by default.
    page: Option<u32>,
}

/// One of the filter's choices, as a link.
struct FilterLink {
    label: &'static str,
    value: &'static str,
    current: bool,
}

/// An audit entry as the table shows it.
struct LogRow {
    at: String,
    ip: String,
    request: String,
    status: i32,
    result: &'static str,
    reason: String,
}

impl LogRow {
    fn of(entry: AuditEntry) -> LogRow {
        LogRow {
            at: when_exactly(entry.occurred_at),
            ip: entry.ip,
            request: format!("{} {}", entry.method, entry.endpoint),
            status: entry.status_code,
            result: if entry.authorized {
                "allowed"
            } else {
                "refused"
            },
            reason: entry.reason.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/token.html")]
struct TokenPage {
    nav: Nav,
    token: TokenRow,
    filters: Vec<FilterLink>,
    result: &'static str,
    entries: Vec<LogRow>,
    total: i64,
    page: u32,
    pages: u32,
}

/// The filter a `result` value names.
fn filter_of(result: Option<&str>) -> Option<(AuditFilter, &'static str)> {
    match result.unwrap_or("all") {
        "all" => Some((AuditFilter::All, "all")),
        "allowed" => Some((AuditFilter::Allowed, "allowed")),
        "refused" => Some((AuditFilter::Refused, "refused")),
        _ => None,
    }
}

/// `GET /tokens/{id}`.
pub async fn show(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/tokens").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let Some((filter, result, page)) = query.ok().and_then(|Query(query)| {
        let (filter, result) = filter_of(query.result.as_deref())?;
        let page = query.page.unwrap_or(1);
        (page >= 1).then_some((filter, result, page))
    }) else {
        let message = "result must be all, allowed or refused, and page a whole number from 1";
        return (jar, error_page(StatusCode::BAD_REQUEST, message)).into_response();
    };
    let offset = i64::from(page - 1) * i64::from(LOG_PAGE);
    let found = tokens::audit_log(
        &state.store,
        user.user_id,
        id,
        filter,
        Some(i64::from(LOG_PAGE)),
        Some(offset),
    )
    .await;
    let answer = match found {
        Ok((token, log)) => {
            let per_page = i64::from(LOG_PAGE);
            let pages = u32::try_from((log.total + per_page - 1) / per_page)
                .unwrap_or(u32::MAX)
                .max(1);
            render(
                StatusCode::OK,
                &TokenPage {
                    nav: Nav::of(&user),
                    token: TokenRow::of(&token, Timestamp::now()),
                    filters: [
                        ("All", "all"),
                        ("Allowed", "allowed"),
                        ("Refused", "refused"),
                    ]
                    .into_iter()
                    .map(|(label, value)| FilterLink {
                        label,
                        value,
                        current: value == result,
                    })
                    .collect(),
                    result,
                    entries: log.entries.into_iter().map(LogRow::of).collect(),
                    total: log.total,
                    page,
                    pages,
                },
            )
        }
        Err(error) => failure(&error.into()),
    };
    (jar, answer).into_response()
}
