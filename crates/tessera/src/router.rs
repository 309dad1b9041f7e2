//! Every route in one assembly, and the one middleware stack around them; the operational
//! routes (`/health`, `/ready`, the JWKS, the API documents). Building the router starts nothing.
//!
//! Each capability's `routes()` declares its routes with their documentation (`routes!` of
//! `utoipa_axum`): merging them here gives the router and the `paths` of the OpenAPI document at
//! once, so a route cannot be served undocumented or documented unserved.
//!
//! A request's way through (outermost first): upload deadline (FCS uploads) → client IP → audit
//! recorder (PAT routes; it also answers a panic in the layers below it with the 500 envelope) →
//! compression → error-envelope guard → request id → trace span and access log → security
//! headers → panic catcher (a handler's panic: the 500 envelope) → timeout → body limit →
//! routing → (on `/api/`) rate limit → extractors (JWT or PAT + scope) → handler → service → store.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, MethodRouter};
use axum::Router;
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::Level;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::client_ip::resolve_client_ip;
use crate::http::rate_limit::limit_by_client_ip;
use crate::http::{fallback, ApiError};
use crate::openapi;
use crate::state::AppState;
use crate::tokens::audit::record_pat_requests;

/// Liveness: answers without touching the database.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "Always `{\"status\":\"ok\"}`")))]
pub async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "`{\"status\":\"ready\"}`"),
        (status = 503, description = "The database does not answer", body = crate::http::openapi::ErrorEnvelope),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.store.ping().await.map_err(|error| {
        tracing::warn!(%error, "readiness check failed");
        ApiError::Unavailable("The database is not available".to_owned())
    })?;
    Ok(axum::Json(json!({"status": "ready"})).into_response())
}

/// The public keys access JWTs are verified with (RFC 7517), current and recently retired.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "accounts",
    responses((status = 200, description = "JWK set of Ed25519 (`OKP`) keys")))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.jwt.keys().jwks()).into_response();
    // Verifiers may cache briefly; they refetch when they meet an unknown `kid`.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// `GET /openapi.json`: the document, serialised once when the router is built.
fn openapi_json(document: &utoipa::openapi::OpenApi) -> MethodRouter<AppState> {
    let body = axum::body::Bytes::from(
        serde_json::to_vec(document).expect("an OpenAPI document always serialises"),
    );
    get(move || async move {
        let json = HeaderValue::from_static("application/json");
        ([(header::CONTENT_TYPE, json)], body)
    })
}

/// The documented routes, in the two groups the middleware treats apart.
struct Routes {
    /// `/health`, `/ready`, the JWKS: no rate limit, no database needed to answer.
    operational: OpenApiRouter<AppState>,
    /// Everything under `/api/` and `/token-management/`, rate limited by [`router`].
    api: OpenApiRouter<AppState>,
}

fn routes() -> Routes {
    let operational = OpenApiRouter::default()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(jwks));
    Routes {
        operational,
        api: api_routes(),
    }
}

/// Every capability's routes. Routes carry their full paths (no `nest`): nesting rewrites the
/// URI on every request, which profiling showed on the PAT hot path.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .merge(crate::accounts::routes::routes())
        .merge(crate::accounts::profile::routes())
        .merge(crate::admin::routes::routes())
        .merge(crate::service_accounts::routes::routes())
        .merge(crate::webhooks::routes::routes())
        .merge(crate::tokens::routes::routes())
        .merge(crate::resources::stubs::routes().into())
        .merge(crate::resources::fcs::routes())
        .merge(crate::resources::case_records::routes())
        .merge(crate::connections::routes())
        .merge(crate::connections::callback_routes())
}

/// The OpenAPI document the router serves, without building a server.
pub fn document() -> utoipa::openapi::OpenApi {
    let Routes { operational, api } = routes();
    openapi::document(operational.merge(api).into_openapi())
}

fn docs_routes() -> Router {
    swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: "/docs",
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/openapi.json"),
        title: Some("Tessera API"),
    })
    // The page boots Swagger UI with an inline script; allow that here and nowhere else.
    .layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
        ),
    ))
}

/// `REQUEST_TIMEOUT_SECONDS` for every request except those whose route keeps its own, longer
/// limit (FCS uploads: `FCS_UPLOAD_TIMEOUT_SECONDS`, sized to `FCS_MAX_UPLOAD_MB`). Like the
/// `TimeoutLayer` it replaces, it answers 503 with an empty body, which the envelope guard fills.
async fn request_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (method, path) = (request.method(), request.uri().path());
    if crate::resources::fcs::has_own_timeout(method, path)
        || crate::console::has_own_timeout(method, path)
    {
        return next.run(request).await;
    }
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // The path only: query strings may carry things that do not belong in logs.
    tracing::info_span!("request", id = %request_id, method = %request.method(), path = %request.uri().path())
}

/// The whole router with the middleware stack, in one place.
pub fn router(state: AppState) -> Router {
    let Routes { operational, api } = routes();
    let (operational, mut paths) = operational.split_for_parts();
    let (api, api_paths) = api.split_for_parts();
    paths.merge(api_paths);
    let api = api
        // Unknown paths under /api/ are rate limited too.
        .route("/api/{*rest}", any(fallback::not_found))
        .method_not_allowed_fallback(fallback::method_not_allowed)
        .layer(from_fn_with_state(
            state.rate_limit.clone(),
            limit_by_client_ip,
        ));
    let routes = operational
        .route("/openapi.json", openapi_json(&openapi::document(paths)))
        .merge(api)
        .merge(crate::console::routes())
        .fallback(crate::console::page::not_found)
        .method_not_allowed_fallback(crate::console::page::method_not_allowed)
        .with_state(state.clone())
        .merge(docs_routes())
        .merge(openapi::redoc_routes());
    with_middleware(routes, state)
}

/// Wraps `routes` in the middleware stack (public so that tests can put a route that panics or
/// hangs behind the real stack). The first layer named is the innermost.
///
/// The PAT audit recorder is the outermost layer but one and catches panics itself: a request
/// that times out (503) or panics anywhere in the stack (500, in the envelope) is recorded with
/// the status the client got. An upload's deadline is set outside the recorder, so it covers the
/// audit too.
pub fn with_middleware(routes: Router, state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.config.max_body_bytes;
    let timeout = Duration::from_secs(state.config.request_timeout_seconds);
    let security = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    routes
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(timeout, request_timeout))
        // A handler's panic is answered here, inside the header, request-id and trace layers,
        // so its 500 looks like every other answer and is logged; the audit recorder's own
        // catch (outermost) is left for a panic in the layers themselves.
        .layer(CatchPanicLayer::custom(|_| fallback::panic_response()))
        .layer(security(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(security(header::X_FRAME_OPTIONS, "DENY"))
        .layer(security(header::REFERRER_POLICY, "no-referrer"))
        .layer(security(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .layer(security(header::CACHE_CONTROL, "no-store"))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                // One access-log line per request (status, latency) inside the request's span.
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                ),
        )
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .layer(from_fn(fallback::ensure_error_envelope))
        // Each route's template is known here (these layers run after routing), and the status
        // is the one the envelope guard settled on.
        .layer(from_fn_with_state(
            state.clone(),
            crate::metrics::record_request,
        ))
        // Outermost, so every body (the envelope guard's too) is compressed when the client
        // asks; a 10,000-event FCS page is megabytes of JSON. Tiny bodies are not worth it.
        .layer(
            // The fastest level: on JSON it keeps most of the ratio, and the default levels
            // took longer to compress a 10,000-event page than a 100 Mbit/s link takes to
            // carry it uncompressed (bench/compression.sh).
            CompressionLayer::new()
                .quality(CompressionLevel::Fastest)
                .compress_when(
                    SizeAbove::new(COMPRESS_ABOVE_BYTES)
                        .and(NotForContentType::GRPC)
                        .and(NotForContentType::IMAGES)
                        .and(NotForContentType::SSE),
                ),
        )
        // Outside everything else, so it catches a panic in any layer (500 in the envelope)
        // and records the status the client got.
        .layer(from_fn_with_state(state.clone(), record_pat_requests))
        // Resolved once, before the recorder, which names the client in its entries. (Code
        // that cannot fail: a panic here is still answered, by the server loop.)
        .layer(from_fn_with_state(
            state.trusted_proxies.clone(),
            resolve_client_ip,
        ))
        // An upload's deadline starts before the recorder, so it covers the audit too.
        .layer(from_fn_with_state(
            crate::resources::fcs::service::upload_timeout(&state.config),
            crate::resources::fcs::set_upload_deadline,
        ))
}

/// Bodies smaller than this are sent as they are: compressing them saves less than it costs.
const COMPRESS_ABOVE_BYTES: u16 = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn document_json() -> serde_json::Value {
        serde_json::to_value(document()).unwrap()
    }

    #[test]
    fn path_parameters_are_in_the_template_and_query_values_are_never_null() {
        let doc = document_json();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let name = parameter["name"].as_str().unwrap();
                    match parameter["in"].as_str().unwrap() {
                        "path" => {
                            assert!(
                                path.contains(&format!("{{{name}}}")),
                                "{method} {path} {name}"
                            );
                            assert!(parameter["schema"].is_object(), "{method} {path} {name}");
                        }
                        "query" => assert!(
                            !parameter["schema"]["type"].to_string().contains("null"),
                            "{method} {path} {name}"
                        ),
                        _ => {}
                    }
                }
            }
        }
    }

    #[test]
    fn a_route_keeps_its_own_description_and_gains_the_shared_schema() {
        let doc = document_json();
        let refusal = &doc["paths"]["/api/v1/beneficiaries/{id}"]["delete"]["responses"]["403"];
        let description = refusal["description"].as_str().unwrap();
        assert!(
            description.starts_with("Only admins and managers delete; or a PAT"),
            "{description}"
        );
        let schemas = refusal["content"]["application/json"]["schema"]["oneOf"].to_string();
        assert!(
            schemas.contains("ScopeRefusal") && schemas.contains("ErrorEnvelope"),
            "{schemas}"
        );
        // A route without a PAT has no scope refusal, and one without a body no 415.
        let profile = &doc["paths"]["/api/v1/auth/profile"]["get"]["responses"];
        assert!(profile.get("403").is_none() && profile.get("415").is_none());
        assert!(profile.get("401").is_some() && profile.get("429").is_some());
        // Outside the rate-limited group: no 429.
        assert!(doc["paths"]["/health"]["get"]["responses"]
            .get("429")
            .is_none());
    }
}
