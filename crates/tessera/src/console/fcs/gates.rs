//! Gates entered by numbers on the file page: a range on the plot's x channel or a rectangle
//! on x and y, judged on the view's own pipeline and inside the view's gate (its parent),
//! saved and deleted through the same functions as `/api/v1/fcs/files/{id}/gates`.
//!
//! * `POST /fcs/{id}/gates` saves one and shows the view with it chosen, so its statistics are
//!   on the page at once; a refusal (a bound that is not a number, min ≥ max, a name taken…)
//!   shows the page again with the reason;
//! * `POST /fcs/{id}/gates/{gate}/delete` deletes one and the gates inside it.

use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use uuid::Uuid;

use super::analysis::{encode, PlotChoice};
use super::file::{file_page, FilePage};
use super::not_found;
use crate::accounts::sessions::ClientInfo;
use crate::console::page::render;
use crate::console::session::{cross_site, failure, form_is_ours, require, ButtonForm};
use crate::http::ApiError;
use crate::resources::fcs::analysis::PipelineQuery;
use crate::resources::fcs::gates::NewGate;
use crate::resources::fcs::routes::{remove_gate, save_gate};
use crate::state::AppState;

/// The gate form: the gate's name, shape and bounds, and the view it was drawn on. (No
/// `Debug`: it holds the session's CSRF token.)
#[derive(Deserialize)]
pub struct GateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// `range` or `rectangle`.
    #[serde(default, rename = "type")]
    shape: String,
    #[serde(default)]
    x_min: String,
    #[serde(default)]
    x_max: String,
    #[serde(default)]
    y_min: String,
    #[serde(default)]
    y_max: String,
    // The view: which plot, channels and pipeline the numbers are on, and the parent gate.
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    x: String,
    #[serde(default)]
    y: String,
    #[serde(default)]
    scale: Option<String>,
    #[serde(default)]
    compensation: Option<String>,
    #[serde(default)]
    transform: Option<String>,
    #[serde(default)]
    gate: Option<String>,
    // The transform's parameters, as the view has them (the API's names).
    #[serde(default)]
    t: Option<String>,
    #[serde(default)]
    w: Option<String>,
    #[serde(default)]
    m: Option<String>,
    #[serde(default)]
    a: Option<String>,
    #[serde(default)]
    cofactor: Option<String>,
}

impl GateForm {
    /// The view's query pairs, as the file page's form sends them.
    fn view(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let mut push = |key: &'static str, value: Option<&String>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                pairs.push((key, value.clone()));
            }
        };
        push("kind", self.kind.as_ref());
        push("x", Some(&self.x));
        push("y", Some(&self.y));
        push("scale", self.scale.as_ref());
        push("compensation", self.compensation.as_ref());
        push("transform", self.transform.as_ref());
        push("t", self.t.as_ref());
        push("w", self.w.as_ref());
        push("m", self.m.as_ref());
        push("a", self.a.as_ref());
        push("cofactor", self.cofactor.as_ref());
        push("gate", self.gate.as_ref());
        pairs
    }

    /// The API's body for this gate: bounds as numbers (blank: open), the view's channels and
    /// pipeline, the view's gate as parent. A bound that is not a number is refused by name.
    fn new_gate(&self) -> Result<NewGate, String> {
        let bound = |field: &str, text: &str| -> Result<Option<f64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| format!("{field}: “{text}” is not a number"))
        };
        let rectangle = self.shape == "rectangle";
        let (mut min, mut max) = (
            vec![bound("x min", &self.x_min)?],
            vec![bound("x max", &self.x_max)?],
        );
        if rectangle {
            min.push(bound("y min", &self.y_min)?);
            max.push(bound("y max", &self.y_max)?);
        }
        let number =
            |field: &str, text: &Option<String>| bound(field, text.as_deref().unwrap_or(""));
        let transform = match self.transform.as_ref().filter(|t| !t.is_empty()) {
            None => None,
            Some(kind) => Some(serde_json::json!({
                "type": kind,
                "t": number("t", &self.t)?,
                "w": number("w", &self.w)?,
                "m": number("m", &self.m)?,
                "a": number("a", &self.a)?,
                "cofactor": number("cofactor", &self.cofactor)?,
            })),
        };
        let body = serde_json::json!({
            "name": self.name,
            "type": if rectangle { "rectangle" } else { "range" },
            "x": self.x,
            "y": rectangle.then_some(&self.y),
            "min": min,
            "max": max,
            "scale": self.scale.as_ref().filter(|s| !s.is_empty()),
            "compensation": self.compensation.as_ref().filter(|c| !c.is_empty()),
            "transform": transform,
            "parent": self.gate.as_ref().filter(|g| !g.is_empty()),
        });
        serde_json::from_value(body).map_err(|error| format!("The gate is not complete: {error}"))
    }
}

/// `POST /fcs/{id}/gates`.
pub async fn create(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    id: Result<Path<String>, PathRejection>,
    form: Result<Form<GateForm>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/fcs").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let csrf = form.as_ref().map_or("", |Form(form)| form.csrf.as_str());
    if !form_is_ours(&headers, &user, csrf) {
        return (jar, cross_site()).into_response();
    }
    let (Ok(Path(id)), Ok(Form(form))) = (id, form) else {
        return (jar, not_found()).into_response();
    };
    let view = form.view();
    let saved = match form.new_gate() {
        Ok(body) => save_gate(&state, user.user_id, &id, body)
            .await
            .map_err(Refusal::of),
        Err(problem) => Err(Refusal::Problem(problem)),
    };
    let answer = match saved {
        Ok((file_id, record, _)) => {
            let mut pairs: Vec<(&str, String)> =
                view.into_iter().filter(|(key, _)| *key != "gate").collect();
            pairs.push(("gate", record.id.to_string()));
            Redirect::to(&format!("/fcs/{file_id}?{}#gates-heading", encode(&pairs)))
                .into_response()
        }
        Err(Refusal::NotFound) => not_found(),
        Err(Refusal::Failed(error)) => failure(&error),
        Err(Refusal::Problem(problem)) => refused(&state, &user, &id, &form, view, problem)
            .await
            .unwrap_or_else(|error| failure(&error)),
    };
    (jar, answer).into_response()
}

/// Why a gate was not saved.
enum Refusal {
    /// No such file for this person.
    NotFound,
    /// Something the person can mend in the form: shown beside it.
    Problem(String),
    /// Ours, not theirs: the console's error page.
    Failed(ApiError),
}

impl Refusal {
    fn of(error: ApiError) -> Refusal {
        match error {
            ApiError::NotFound(_) | ApiError::BadRequest(_) => Refusal::NotFound,
            ApiError::Validation(_) | ApiError::Conflict(_) => Refusal::Problem(error.to_string()),
            other => Refusal::Failed(other),
        }
    }
}

/// The file page again, the gate form filled as sent and the reason it was refused.
async fn refused(
    state: &AppState,
    user: &crate::console::session::SignedIn,
    id: &str,
    form: &GateForm,
    view: Vec<(&'static str, String)>,
    problem: String,
) -> Result<Response, ApiError> {
    let query = encode(&view);
    let plot: PlotChoice = parse_query(&query)?;
    let pipeline: PipelineQuery = parse_query(&query)?;
    let mut page: FilePage = file_page(state, user, id, &(plot, pipeline)).await?;
    page.gate_draft = super::file::GateDraft {
        name: form.name.clone(),
        rectangle: form.shape == "rectangle",
        x_min: form.x_min.clone(),
        x_max: form.x_max.clone(),
        y_min: form.y_min.clone(),
        y_max: form.y_max.clone(),
        problem: Some(problem),
    };
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// A query string read into `T` as axum's `Query` reads it.
fn parse_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| ApiError::invalid("The view is not a valid address"))?;
    axum::extract::Query::<T>::try_from_uri(&uri)
        .map(|axum::extract::Query(value)| value)
        .map_err(|error| ApiError::invalid(error.body_text()))
}

/// `POST /fcs/{id}/gates/{gate}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    ids: Result<Path<(String, Uuid)>, PathRejection>,
    form: Result<Form<ButtonForm>, FormRejection>,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/fcs").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if !form_is_ours(&headers, &user, &ButtonForm::csrf(form)) {
        return (jar, cross_site()).into_response();
    }
    let Ok(Path((id, gate))) = ids else {
        return (jar, not_found()).into_response();
    };
    let answer = match remove_gate(&state, user.user_id, &id, gate).await {
        Ok(()) => Redirect::to(&format!("/fcs/{id}#gates-heading")).into_response(),
        Err(ApiError::NotFound(_) | ApiError::BadRequest(_)) => not_found(),
        Err(error) => failure(&error),
    };
    (jar, answer).into_response()
}
