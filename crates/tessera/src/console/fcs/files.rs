//! What the file page links to rather than shows: the plot image its analysis form asks for
//! (`/fcs/{id}/plot`), the chosen events exported (`/fcs/{id}/export`) and the original file
//! (`/fcs/{id}/download`). Each answers exactly as its API route does (the same functions), for
//! the signed-in person instead of a token's owner.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use uuid::Uuid;

use super::not_found;
use crate::accounts::sessions::ClientInfo;
use crate::console::session::require;
use crate::http::extract::Query;
use crate::http::ApiResult;
use crate::resources::fcs::analysis::PipelineQuery;
use crate::resources::fcs::routes::{
    export_file, original_file, plot_image, ExportQuery, PlotQuery,
};
use crate::state::AppState;

/// `GET /fcs/{id}/plot`: the image of `GET /api/v1/fcs/plot`.
pub async fn plot(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<String>, PathRejection>,
    query: ApiResult<Query<PlotQuery>>,
    choice: ApiResult<Query<PipelineQuery>>,
) -> Response {
    let (user, id, jar) = match signed_in_owner(&state, &client, jar, id).await {
        Ok(found) => found,
        Err(early) => return early.into_response(),
    };
    let answer = match (query, choice) {
        (Ok(Query(mut query)), Ok(Query(choice))) => {
            query.file_id = Some(id);
            plot_image(&state, user, query, choice).await
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    (jar, answer).into_response()
}

/// `GET /fcs/{id}/export`: the file of `GET /api/v1/fcs/export`.
pub async fn export(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<String>, PathRejection>,
    query: ApiResult<Query<ExportQuery>>,
    choice: ApiResult<Query<PipelineQuery>>,
) -> Response {
    let (user, id, jar) = match signed_in_owner(&state, &client, jar, id).await {
        Ok(found) => found,
        Err(early) => return early.into_response(),
    };
    let answer = match (query, choice) {
        (Ok(Query(mut query)), Ok(Query(choice))) => {
            query.file_id = Some(id);
            export_file(&state, user, query, choice).await
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    (jar, answer).into_response()
}

/// `GET /fcs/{id}/download`: the bytes of `GET /api/v1/fcs/files/{id}/download`.
pub async fn download(
    State(state): State<AppState>,
    client: ClientInfo,
    jar: CookieJar,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let (user, id, jar) = match signed_in_owner(&state, &client, jar, id).await {
        Ok(found) => found,
        Err(early) => return early.into_response(),
    };
    (jar, original_file(&state, user, &id).await).into_response()
}

/// What these routes answer before asking the API's function: sign-in (a stranger is sent to
/// the sign-in page) and a file id from the path (else not found).
enum Early {
    Answer(Response),
    NotFound(CookieJar),
}

impl IntoResponse for Early {
    fn into_response(self) -> Response {
        match self {
            Early::Answer(answer) => answer,
            Early::NotFound(jar) => (jar, not_found()).into_response(),
        }
    }
}

/// The signed-in person's id, the path's file id and the cookies to send back; or, as `Err`,
/// the answer to give at once.
async fn signed_in_owner(
    state: &AppState,
    client: &ClientInfo,
    jar: CookieJar,
    id: Result<Path<String>, PathRejection>,
) -> Result<(Uuid, String, CookieJar), Early> {
    let (user, jar) = require(state, jar, client, "/fcs")
        .await
        .map_err(Early::Answer)?;
    match id {
        Ok(Path(id)) => Ok((user.user_id, id, jar)),
        Err(_) => Err(Early::NotFound(jar)),
    }
}
