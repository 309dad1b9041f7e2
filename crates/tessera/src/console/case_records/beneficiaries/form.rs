//! `/beneficiaries/new` and `/beneficiaries/{id}/edit`: one form, whose refusals are shown
//! next to the field they name, with everything typed kept.

use askama::Template;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::{not_found, FIELDS};
use crate::accounts::sessions::ClientInfo;
use crate::console::case_records::{refused, staff};
use crate::console::form::{Entered, FieldView};
use crate::console::page::{render, Nav};
use crate::console::session::{cross_site, form_is_ours, require, SignedIn};
use crate::resources::case_records::beneficiaries::BeneficiaryBody;
use crate::resources::case_records::rules::Action;
use crate::resources::case_records::service::{self as case_records, CaseRecordsError};
use crate::state::AppState;

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
