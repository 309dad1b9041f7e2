//! FCS files, over the same `FcsService` as `/api/v1/fcs`:
//!
//! * this module — `/fcs`: the built-in sample and the user's uploads, and the upload form
//!   (multipart, with progress when script runs);
//! * [`file`] — `/fcs/{id}`: a file's parameters, statistics and a histogram per channel;
//! * [`analysis`] — the file page's analysis form: plot, channels, pipeline, gate, exports;
//! * [`gates`] — gates entered by numbers on the file page, saved and deleted;
//! * [`files`] — what the file page links to: its plot image, exports, the original file;
//! * [`delete`] — deleting an upload after a confirmation;
//! * [`plot`] — a histogram as SVG geometry.
//!
//! Any signed-in person may use FCS data (every role's ceiling holds `fcs:admin`); as over the
//! API, a user sees the sample and their own uploads only.

pub mod analysis;
pub mod delete;
pub mod file;
pub mod files;
pub mod gates;
pub mod plot;

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use tokio::time::Instant;

use super::page::{error_page, render, when, Nav};
use super::session::{cross_site, failure, form_is_ours, require, SignedIn};
use crate::accounts::sessions::ClientInfo;
use crate::http::ApiError;
use crate::resources::fcs::service::SAMPLE_ID;
use crate::resources::fcs::upload::Upload;
use crate::state::AppState;

/// Where the console's upload form posts: its own time limit, like the API's upload.
pub const UPLOAD_PATH: &str = "/fcs";

/// A file as the list shows it.
struct FileRow {
    /// `sample` or the upload's id.
    id: String,
    name: String,
    events: i64,
    parameters: i64,
    size: String,
    uploaded: String,
    deletable: bool,
}

#[derive(Template)]
#[template(path = "console/fcs.html")]
struct FilesPage {
    nav: Nav,
    files: Vec<FileRow>,
    message: Option<String>,
    max_upload: String,
}

/// A size in bytes as people read it, in the binary units the limits are set in: `512 B`,
/// `1.5 MiB`.
pub fn size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// The sample (when it can be had) and the user's uploads, newest first.
async fn files(state: &AppState, user: &SignedIn) -> Result<Vec<FileRow>, ApiError> {
    let uploads = state.store.list_fcs_files(user.user_id).await?;
    // An unavailable sample (logged by the service) must not hide the user's own files.
    let sample = state.fcs.sample().await.ok();
    let sample = sample.iter().map(|sample| FileRow {
        id: SAMPLE_ID.to_owned(),
        name: sample.filename.clone(),
        events: i64::try_from(sample.total_events).unwrap_or(i64::MAX),
        parameters: i64::try_from(sample.total_parameters).unwrap_or(i64::MAX),
        size: size(sample.size_bytes),
        uploaded: "built in".to_owned(),
        deletable: false,
    });
    let uploads = uploads.iter().map(|record| FileRow {
        id: record.id.to_string(),
        name: record.filename.clone(),
        events: record.total_events,
        parameters: record.total_parameters,
        size: size(u64::try_from(record.size_bytes).unwrap_or(0)),
        uploaded: when(record.created_at),
        deletable: true,
    });
    Ok(sample.chain(uploads).collect())
}

/// The list page with `status` and, after a refused upload, why.
async fn list_page(
    state: &AppState,
    user: &SignedIn,
    status: StatusCode,
    message: Option<String>,
) -> Response {
    match files(state, user).await {
        Ok(files) => render(
            status,
            &FilesPage {
                nav: Nav::of(user),
                files,
                message,
                max_upload: size(state.fcs.max_upload_bytes()),
            },
        ),
        Err(error) => failure(&error),
    }
}

/// `GET /fcs`.
pub async fn list(State(state): State<AppState>, client: ClientInfo, jar: CookieJar) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/fcs").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let page = list_page(&state, &user, StatusCode::OK, None).await;
    (jar, page).into_response()
}

/// `POST /fcs`: the upload form (multipart: the CSRF token first, then `file`). A stored file
/// leads to its page; a refused one back to the list, saying why, with the API's status.
pub async fn upload(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    jar: CookieJar,
    request: Request,
) -> Response {
    let (user, jar) = match require(&state, jar, &client, "/fcs").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let deadline = Instant::now() + state.fcs.upload_timeout();
    let stored = async {
        let mut upload = Upload::open(&state, user.user_id, request, deadline).await?;
        // Read before a byte of the file is: a forged form stores nothing.
        let csrf = upload.leading_text("csrf").await?.unwrap_or_default();
        if !form_is_ours(&headers, &user, &csrf) {
            return Ok(None);
        }
        upload.accept(&state).await.map(Some)
    };
    let page = match stored.await {
        Ok(Some(record)) => Redirect::to(&format!("/fcs/{}", record.id)).into_response(),
        Ok(None) => cross_site(),
        Err(error) if error.status().is_client_error() => {
            list_page(&state, &user, error.status(), Some(error.to_string())).await
        }
        Err(error) => failure(&error),
    };
    (jar, page).into_response()
}

/// The page for a file id that is not the sample or one of the user's uploads.
fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "FCS file not found")
}
