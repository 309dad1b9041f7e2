//! What the file page links to rather than shows: the plot image its analysis form asks for
//! (`/fcs/{id}/plot`), the chosen events exported (`/fcs/{id}/export`) and the original file
//! (`/fcs/{id}/download`). Each answers exactly as its API route does (the same functions), for
//! the signed-in person instead of a token's owner.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

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
    let (user, jar) = match require(&state, jar, &client, "/fcs").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let answer = match (query, choice) {
        (Ok(Query(mut query)), Ok(Query(choice))) => {
            query.file_id = Some(id);
            plot_image(&state, user.user_id, query, choice).await
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
    let (user, jar) = match require(&state, jar, &client, "/fcs").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    let answer = match (query, choice) {
        (Ok(Query(mut query)), Ok(Query(choice))) => {
            query.file_id = Some(id);
            export_file(&state, user.user_id, query, choice).await
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
    let (user, jar) = match require(&state, jar, &client, "/fcs").await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(Path(id)) = id else {
        return (jar, not_found()).into_response();
    };
    (jar, original_file(&state, user.user_id, &id).await).into_response()
}
