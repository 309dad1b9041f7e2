//! `/beneficiaries`, a module per page:
//!
//! * this module — the list (search, status and disability filters, paging), and the fields of
//!   a beneficiary as the forms ask for them and the pages show them;
//! * [`form`] — creating and editing;
//! * [`show`] — a beneficiary's page, with their sessions and the booking form;
//! * [`log`] — the access log (admins, managers).

pub mod form;
pub mod log;
pub mod show;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use uuid::Uuid;

use crate::accounts::sessions::ClientInfo;
use crate::console::case_records::{may, refused, staff};
use crate::console::form::{Kind, Spec};
use crate::console::page::{error_page, render, Nav};
use crate::console::session::require;
use crate::resources::case_records::beneficiaries::{ListQuery, DISABILITY_TYPES, SEVERITY_LEVELS};
use crate::resources::case_records::rules::Action;
use crate::resources::case_records::service::{self as case_records};
use crate::state::AppState;
use crate::store::{BeneficiaryStatus, Gender};

/// Rows of a list page.
const PER_PAGE: i64 = 20;

const fn field(name: &'static str, label: &'static str, kind: Kind, required: bool) -> Spec {
    Spec {
        name,
        label,
        kind,
        required,
    }
}

/// A beneficiary's fields, as the forms ask for them and the page shows them.
pub const FIELDS: &[Spec] = &[
    field("national_id", "National ID", Kind::Text, true),
    field("first_name", "First name", Kind::Text, true),
    field("last_name", "Last name", Kind::Text, true),
    field("date_of_birth", "Date of birth", Kind::Date, true),
    field("gender", "Gender", Kind::Choice(Gender::NAMES), true),
    field(
        "status",
        "Status",
        Kind::Choice(BeneficiaryStatus::NAMES),
        false,
    ),
    field("registration_date", "Registration date", Kind::Date, false),
    field(
        "disability_type",
        "Disability type",
        Kind::Choice(DISABILITY_TYPES),
        false,
    ),
    field(
        "disability_category",
        "Disability category",
        Kind::Text,
        false,
    ),
    field(
        "severity_level",
        "Severity",
        Kind::Choice(SEVERITY_LEVELS),
        false,
    ),
    field("diagnosis", "Diagnosis", Kind::Text, false),
    field("diagnosis_date", "Diagnosis date", Kind::Date, false),
    field("guardian_name", "Guardian's name", Kind::Text, true),
    field(
        "guardian_relationship",
        "Guardian's relationship",
        Kind::Text,
        false,
    ),
    field("guardian_phone", "Guardian's phone", Kind::Tel, true),
    field("guardian_email", "Guardian's email", Kind::Email, false),
    field(
        "guardian_national_id",
        "Guardian's national ID",
        Kind::Text,
        false,
    ),
    field("phone", "Phone", Kind::Tel, false),
    field("email", "Email", Kind::Email, false),
    field("address", "Address", Kind::Text, false),
    field("city", "City", Kind::Text, false),
    field("region", "Region", Kind::Text, false),
    field("postal_code", "Postal code", Kind::Text, false),
    field("medical_history", "Medical history", Kind::Lines, false),
    field("allergies", "Allergies", Kind::Lines, false),
    field("medications", "Medications", Kind::Lines, false),
    field("notes", "Notes", Kind::Area, false),
];

/// The list's query: `?search=…&status=…&page=…` (all text, so nothing is refused by parsing).
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    search: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    disability_type: String,
    #[serde(default)]
    page: String,
}

struct BeneficiaryRow {
    id: Uuid,
    name: String,
    national_id: String,
    age: i64,
    status: String,
    sessions: i64,
}

#[derive(Template)]
#[template(path = "console/beneficiaries.html")]
struct ListPage {
    nav: Nav,
    search: String,
    status: String,
    statuses: &'static [&'static str],
    disability_type: String,
    disability_types: &'static [&'static str],
    rows: Vec<BeneficiaryRow>,
    total: i64,
    page: i64,
    pages: i64,
    may_create: bool,
}

/// `GET /beneficiaries`.
pub async fn list(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/beneficiaries").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Query(params)) = params else {
        let message = "This address's query is not one this page understands.";
        return (jar, error_page(StatusCode::BAD_REQUEST, message)).into_response();
    };
    let page = match params.page.trim() {
        "" => Some(1),
        raw => raw.parse().ok().filter(|page| *page >= 1),
    };
    let Some(page) = page else {
        let message = "page must be a whole number from 1";
        return (jar, error_page(StatusCode::BAD_REQUEST, message)).into_response();
    };
    let query = ListQuery {
        page: Some(page),
        per_page: Some(PER_PAGE),
        search: Some(params.search.trim().to_owned()).filter(|s| !s.is_empty()),
        status: Some(params.status.clone()).filter(|s| !s.is_empty()),
        disability_type: Some(params.disability_type.clone()).filter(|s| !s.is_empty()),
        sort_by: Some("last_name".to_owned()),
        sort_order: Some("asc".to_owned()),
    };
    let answer = match case_records::list_beneficiaries(&state.store, &staff(&user), query).await {
        Ok(found) => render(
            StatusCode::OK,
            &ListPage {
                nav: Nav::of(&user),
                rows: found
                    .rows
                    .into_iter()
                    .map(|b| BeneficiaryRow {
                        id: b.id,
                        name: format!("{} {}", b.values.first_name, b.values.last_name),
                        national_id: b.values.national_id,
                        age: b.age,
                        status: b.values.status.to_string(),
                        sessions: b.sessions_count,
                    })
                    .collect(),
                total: found.pagination.total,
                page: found.pagination.page,
                pages: found.pagination.pages.max(1),
                search: params.search,
                status: params.status,
                statuses: BeneficiaryStatus::NAMES,
                disability_type: params.disability_type,
                disability_types: DISABILITY_TYPES,
                may_create: may(&user, Action::CreateBeneficiary),
            },
        ),
        Err(error) => refused(error),
    };
    (jar, answer).into_response()
}

pub(super) fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Beneficiary not found")
}
