//! `/beneficiaries`: the list (search, status filter, paging), creating, a beneficiary's page
//! with their sessions and the booking form, editing, and the access log.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use uuid::Uuid;

use super::sessions::{SessionRow, BOOKING};
use super::{may, refused, staff};
use crate::accounts::sessions::ClientInfo;
use crate::console::form::{Entered, FieldView, Kind, Spec};
use crate::console::page::{error_page, render, when_exactly, Nav};
use crate::console::session::{cross_site, form_is_ours, require, SignedIn};
use crate::resources::case_records::access_log::LogQuery;
use crate::resources::case_records::beneficiaries::{
    BeneficiaryBody, ListQuery, DISABILITY_TYPES, SEVERITY_LEVELS,
};
use crate::resources::case_records::rules::Action;
use crate::resources::case_records::service::{self as case_records, CaseRecordsError};
use crate::resources::case_records::therapy_sessions::SessionListQuery;
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

#[derive(Template)]
#[template(path = "console/beneficiary_form.html")]
struct FormPage {
    nav: Nav,
    /// `None` when creating.
    id: Option<Uuid>,
    heading: String,
    message: Option<String>,
    fields: Vec<FieldView>,
}

impl FormPage {
    fn new(user: &SignedIn, id: Option<Uuid>, entered: &Entered, error: Option<&str>) -> FormPage {
        FormPage {
            nav: Nav::of(user),
            id,
            heading: match id {
                None => "New beneficiary".to_owned(),
                Some(_) => format!(
                    "Edit {} {}",
                    entered.0.get("first_name").map_or("", String::as_str),
                    entered.0.get("last_name").map_or("", String::as_str)
                ),
            },
            message: Entered::unplaced(FIELDS, error),
            fields: entered.fields(FIELDS, error),
        }
    }
}

/// `GET /beneficiaries/new`.
pub async fn new_form(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/beneficiaries/new").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if let Err(error) = staff(&user).may(Action::CreateBeneficiary) {
        return (jar, refused(error)).into_response();
    }
    let page = FormPage::new(&user, None, &Entered::default(), None);
    (jar, render(StatusCode::OK, &page)).into_response()
}

/// What a refused form answers: the form again, with the message by its field, or a page.
fn form_refused(
    user: &SignedIn,
    id: Option<Uuid>,
    entered: &Entered,
    error: CaseRecordsError,
) -> Response {
    let status = match &error {
        CaseRecordsError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        CaseRecordsError::NationalIdTaken { .. } => StatusCode::CONFLICT,
        _ => return refused(error),
    };
    let message = match &error {
        // Said next to the field it is about.
        CaseRecordsError::NationalIdTaken { .. } => format!("national_id: {error}"),
        _ => error.to_string(),
    };
    render(status, &FormPage::new(user, id, entered, Some(&message)))
}

/// `POST /beneficiaries`: registers a beneficiary and opens their page.
pub async fn create(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/beneficiaries/new").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (entered, csrf) = Entered::read(fields.map(|Form(f)| f).unwrap_or_default());
    if !form_is_ours(&headers, &user, &csrf) {
        return (jar, cross_site()).into_response();
    }
    let answer = match entered.body::<BeneficiaryBody>(FIELDS, false) {
        Err(message) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &FormPage::new(&user, None, &entered, Some(&message)),
        ),
        Ok(body) => match case_records::create_beneficiary(&state.store, &staff(&user), body).await
        {
            Ok(created) => Redirect::to(&format!("/beneficiaries/{}", created.id)).into_response(),
            Err(error) => form_refused(&user, None, &entered, error),
        },
    };
    (jar, answer).into_response()
}

/// `GET /beneficiaries/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/beneficiaries").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    if let Err(error) = staff(&user).may(Action::UpdateBeneficiary) {
        return (jar, refused(error)).into_response();
    }
    let answer = match case_records::beneficiary(&state.store, &staff(&user), id).await {
        Ok(found) => {
            let entered = Entered::of(&found.values, FIELDS);
            render(
                StatusCode::OK,
                &FormPage::new(&user, Some(id), &entered, None),
            )
        }
        Err(error) => refused(error),
    };
    (jar, answer).into_response()
}

/// `POST /beneficiaries/{id}/edit`: saves the changes and goes back to the beneficiary's page.
pub async fn update(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
    fields: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/beneficiaries").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let (entered, csrf) = Entered::read(fields.map(|Form(f)| f).unwrap_or_default());
    if !form_is_ours(&headers, &user, &csrf) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let answer = match entered.body::<BeneficiaryBody>(FIELDS, true) {
        Err(message) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &FormPage::new(&user, Some(id), &entered, Some(&message)),
        ),
        Ok(body) => {
            match case_records::update_beneficiary(&state.store, &staff(&user), id, body).await {
                Ok(_) => Redirect::to(&format!("/beneficiaries/{id}")).into_response(),
                Err(error) => form_refused(&user, Some(id), &entered, error),
            }
        }
    };
    (jar, answer).into_response()
}

/// A fact of the beneficiary's page.
struct Fact {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "console/beneficiary.html")]
pub struct BeneficiaryPage {
    nav: Nav,
    id: Uuid,
    name: String,
    age: i64,
    facts: Vec<Fact>,
    sessions: Vec<SessionRow>,
    sessions_total: i64,
    may_read_sessions: bool,
    may_edit: bool,
    may_book: bool,
    may_read_log: bool,
    booking: Vec<FieldView>,
    booking_message: Option<String>,
}

/// The beneficiary's page, with the booking form as `entered` and `error` left it.
pub async fn beneficiary_page(
    state: &AppState,
    user: &SignedIn,
    id: Uuid,
    entered: &Entered,
    error: Option<&str>,
) -> Result<BeneficiaryPage, CaseRecordsError> {
    let query = SessionListQuery {
        page: Some(1),
        per_page: Some(100),
        status: None,
        from: None,
        to: None,
    };
    let (found, sessions) =
        case_records::beneficiary_with_sessions(&state.store, &staff(user), id, query).await?;
    // A role that reads beneficiaries but not sessions (data entry) sees the record alone.
    let may_read_sessions = sessions.is_some();
    let (sessions, sessions_total) = match sessions {
        Some(page) => {
            let total = page.pagination.total;
            (page.rows.into_iter().map(SessionRow::of).collect(), total)
        }
        None => (Vec::new(), 0),
    };
    let shown = Entered::of(&found.values, FIELDS);
    Ok(BeneficiaryPage {
        nav: Nav::of(user),
        id,
        name: format!("{} {}", found.values.first_name, found.values.last_name),
        age: found.age,
        facts: FIELDS
            .iter()
            .filter_map(|spec| {
                let value = shown.0.get(spec.name).cloned().unwrap_or_default();
                (!value.is_empty()).then(|| Fact {
                    label: spec.label,
                    value: value.replace('\n', ", "),
                })
            })
            .collect(),
        sessions,
        sessions_total,
        may_read_sessions,
        may_edit: may(user, Action::UpdateBeneficiary),
        may_book: may(user, Action::CreateSession),
        may_read_log: may(user, Action::ReadAccessLog),
        booking: entered.fields(BOOKING, error),
        booking_message: Entered::unplaced(BOOKING, error),
    })
}

/// `GET /beneficiaries/{id}`.
pub async fn show(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<Uuid>, PathRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/beneficiaries").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let answer = match beneficiary_page(&state, &user, id, &Entered::default(), None).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(error) => refused(error),
    };
    (jar, answer).into_response()
}

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
    offset: i64,
    limit: i64,
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
                offset: found.pagination.offset,
                limit: found.pagination.limit,
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

fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Beneficiary not found")
}
