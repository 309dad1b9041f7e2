//! `/security-events`: what `security_events` records — failed and locked sign-ins, reused
//! refresh tokens, role changes, every admin action. Admins see everyone's and may filter by
//! account and kind; everyone else sees their own (`GET /api/v1/auth/security-events`).

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::page::{render, when_exactly, Nav};
use super::session::{failure, require};
use crate::accounts::sessions::ClientInfo;
use crate::admin::service::{self as admin, AdminError, EventQuery};
use crate::state::AppState;
use crate::store::SecurityEventKind;
use crate::types::Role;

const PAGE: i64 = 50;

struct EventRow {
    when: String,
    kind: &'static str,
    account: String,
    actor: String,
    ip: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/security_events.html")]
struct EventsPage {
    nav: Nav,
    everyone: bool,
    events: Vec<EventRow>,
    total: i64,
    kinds: &'static [&'static str],
    filter: Filter,
    previous: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

/// The filter as the form shows it back.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct Filter {
    #[serde(default)]
    user: String,
    #[serde(default)]
    kind: String,
    offset: Option<i64>,
}

impl Filter {
    fn query(&self, everyone: bool) -> EventQuery {
        let given = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
        EventQuery {
            user: if everyone { given(&self.user) } else { None },
            kind: given(&self.kind),
            since: None,
            until: None,
            limit: Some(PAGE),
            offset: self.offset,
        }
    }

    fn page_link(&self, offset: i64) -> String {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("user", &self.user)
            .append_pair("kind", &self.kind)
            .append_pair("offset", &offset.to_string())
            .finish();
        format!("/security-events?{query}")
    }
}

/// `GET /security-events`.
pub async fn list(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    filter: Result<Query<Filter>, QueryRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/security-events").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let everyone = user.role == Role::Admin;
    let own = (!everyone).then_some(user.user_id);
    let mut filter = filter.map(|Query(filter)| filter).unwrap_or_default();
    let (page, error, status) =
        match admin::security_events(&state.store, &filter.query(everyone), own).await {
            Ok(page) => (page, None, StatusCode::OK),
            Err(AdminError::Invalid(invalid)) => {
                filter = Filter::default();
                match admin::security_events(&state.store, &filter.query(everyone), own).await {
                    Ok(page) => (page, Some(invalid.0), StatusCode::UNPROCESSABLE_ENTITY),
                    Err(error) => return (jar, failure(&error.into())).into_response(),
                }
            }
            Err(error) => return (jar, failure(&error.into())).into_response(),
        };
    let offset = page.paging.offset;
    let previous = (offset > 0).then(|| filter.page_link((offset - PAGE).max(0)));
    let next = (offset.saturating_add(PAGE) < page.total).then(|| filter.page_link(offset + PAGE));
    let events = page
        .events
        .into_iter()
        .map(|e| EventRow {
            when: when_exactly(e.occurred_at),
            kind: e.kind.as_str(),
            account: e.username.unwrap_or_else(|| "—".to_owned()),
            actor: e.actor_username.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
        })
        .collect();
    let listing = EventsPage {
        nav: Nav::of(&user),
        everyone,
        events,
        total: page.total,
        kinds: SecurityEventKind::NAMES,
        filter,
        previous,
        next,
        error,
    };
    (jar, render(status, &listing)).into_response()
}
