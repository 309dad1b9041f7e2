//! The OpenAPI 3.1 document's top level — info, security schemes, tags, the shared schemas — and
//! what is derived for every operation. Served at `/openapi.json` and browsable at `/docs`
//! (Swagger UI) and `/redoc` (ReDoc), both bundled in the binary.
//!
//! The paths are not listed here: each capability declares a route and its documentation together
//! (`routes!` in its `routes()`), and `router.rs` merges them into the router and the paths of the
//! document at once; [`document`] then finishes the document.
//!
//! Handlers document what they answer themselves. The failures that the shared machinery produces
//! for every route of a kind — the authentication extractors, the scope check, the rate limit,
//! the timeout, the JSON, path and query extractors — are added by `SharedResponses`, derived
//! from each operation (its security, path, parameters and body), so no route can forget them and
//! no route is given one it cannot return.

use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Header, Object, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi, PartialSchema};

use crate::http::openapi::{Enveloped, ErrorEnvelope, RateLimited, ScopeRefusal};
use crate::http::rate_limit::is_api_path;
use crate::resources::stubs::{StubAnswer, STUB_ROUTES};
use crate::tokens::scopes::Scope;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera", description = "Accounts, personal access tokens and the resources they guard. \
        PAT-protected routes take `Authorization: Bearer pat_…`; the tokens API takes the JWT from login. \
        Every error uses the envelope `{\"success\":false,\"error\":…,\"message\":…}`; a 403 for a \
        scope too low and a 429 carry `data` instead of `message`. Each operation lists every status it \
        can answer."),
    components(schemas(ErrorEnvelope, ScopeRefusal, RateLimited, StubAnswer)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "accounts", description = "Register and log in"),
        (name = "tokens", description = "Personal access tokens (JWT required)"),
        (name = "resources", description = "PAT-protected resources; each names its scope"),
        (name = "fcs", description = "Flow-cytometry files: the built-in sample and the caller's uploads (PAT)"),
        (name = "case-records", description = "Beneficiaries, therapy sessions and their access log (staff JWT, or PAT with a `beneficiaries` scope; role rules apply to both)"),
        (name = "connections", description = "OAuth connections: OAuth clients, branches, the authorization flow and a valid provider token per branch (owner's JWT, or PAT with a `connections` scope)"),
        (name = "operations", description = "Health and readiness"),
    )
)]
struct TopLevel;

/// The whole document: the top level, the `paths` the routes declared (with the schemas they
/// use), the statuses every operation gets from the shared machinery, and the stub routes.
pub fn document(paths: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut document = TopLevel::openapi();
    document.merge(paths);
    // Shared statuses first: the stubs state their own traits (they never parse the path).
    SharedResponses.modify(&mut document);
    StubPaths.modify(&mut document);
    document
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut jwt = Http::new(HttpAuthScheme::Bearer);
        jwt.bearer_format = Some("JWT".to_owned());
        jwt.description = Some("Access token from POST /api/v1/auth/login".to_owned());
        components.add_security_scheme("jwt", SecurityScheme::Http(jwt));
        let mut pat = Http::new(HttpAuthScheme::Bearer);
        pat.bearer_format = Some("pat_…".to_owned());
        let scopes: Vec<String> = Scope::all().map(|s| s.to_string()).collect();
        pat.description = Some(format!(
            "Personal access token. Scopes (a higher level of a resource includes the lower ones): {}",
            scopes.join(", ")
        ));
        components.add_security_scheme("pat", SecurityScheme::Http(pat));
    }
}

/// What the shared machinery does with a route, as far as its answers go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Traits {
    /// An extractor authenticates the bearer (`AuthUser`, `Pat`, `Caller`): 401.
    authenticated: bool,
    /// A PAT is accepted, and its scope and IP allowlist are checked: 403.
    pat: bool,
    /// The route is in the rate-limited, database-backed group (`router::api_routes`): 429, 503.
    api_group: bool,
    /// A JSON body is read with [`super::extract::Json`]: 400, 413, 415, 422.
    json_body: bool,
    /// A `multipart/form-data` body is read: 400 when it is malformed (the route documents its
    /// own limits and content type).
    multipart_body: bool,
    /// The path has parameters: 404 (no such record, or an empty segment that no route matches).
    path_params: bool,
    /// The path is parsed with [`super::extract::Path`]: 400 for a malformed id.
    parses_path: bool,
    /// The query is parsed with [`super::extract::Query`]: 422.
    query: bool,
}

impl Traits {
    fn of(path: &str, operation: &Operation) -> Traits {
        let security = serde_json::to_value(&operation.security).unwrap_or_default();
        let requirements = security.as_array().map(Vec::as_slice).unwrap_or_default();
        let named = |scheme: &str| requirements.iter().any(|r| r.get(scheme).is_some());
        let parameters = operation.parameters.as_deref().unwrap_or_default();
        let path_params = parameters
            .iter()
            .any(|p| p.parameter_in == ParameterIn::Path);
        Traits {
            authenticated: requirements
                .iter()
                .any(|r| r.as_object().is_some_and(|o| !o.is_empty())),
            pat: named("pat"),
            api_group: is_api_path(path),
            json_body: operation
                .request_body
                .as_ref()
                .is_some_and(|body| body.content.contains_key("application/json")),
            multipart_body: operation
                .request_body
                .as_ref()
                .is_some_and(|body| body.content.contains_key("multipart/form-data")),
            path_params,
            parses_path: path_params,
            query: parameters
                .iter()
                .any(|p| p.parameter_in == ParameterIn::Query),
        }
    }
}

fn envelope_content(schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            envelope_content(Ref::from_schema_name("ErrorEnvelope")),
        )
        .build()
}

fn seconds_header(description: &str) -> Header {
    let mut header = Header::new(Object::with_type(Type::Integer));
    header.description = Some(description.to_owned());
    header
}

/// The statuses the shared machinery can answer for a route with these traits.
fn shared_responses(traits: Traits) -> Vec<(&'static str, Response)> {
    let mut responses = Vec::new();
    let mut malformed = Vec::new();
    if traits.json_body {
        malformed.push("the body is not well-formed JSON");
    }
    if traits.multipart_body {
        malformed.push("the multipart body is malformed");
    }
    if traits.parses_path {
        malformed.push("a path parameter is malformed (an id that is not a UUID)");
    }
    if let Some((first, rest)) = malformed.split_first() {
        let mut description = first[..1].to_uppercase() + &first[1..];
        for cause in rest {
            description.push_str(", or ");
            description.push_str(cause);
        }
        responses.push(("400", error_response(&description)));
    }
    if traits.authenticated {
        let mut response = error_response(
            "No bearer token, or one that is malformed, unknown, of the wrong kind, revoked or expired \
             (`message`: `Missing token`, `Invalid token`, `Token revoked`, `Token expired`)",
        );
        let mut header = Header::default();
        header.description = Some("`Bearer`".to_owned());
        response
            .headers
            .insert("WWW-Authenticate".to_owned(), header);
        responses.push(("401", response));
    }
    if traits.pat {
        responses.push((
            "403",
            ResponseBuilder::new()
                .description(
                    "A PAT whose scopes do not reach the route's (`data`: `required_scope`, `your_scopes`), \
                     or used from outside its `allowed_ips` (`message`: `IP not allowed`)",
                )
                .content(
                    "application/json",
                    envelope_content(
                        OneOfBuilder::new()
                            .item(Ref::from_schema_name("ScopeRefusal"))
                            .item(Ref::from_schema_name("ErrorEnvelope")),
                    ),
                )
                .build(),
        ));
    }
    if traits.path_params {
        responses.push((
            "404",
            error_response("No such record of the caller's, or an empty path segment (no route)"),
        ));
    }
    if traits.json_body {
        responses.push((
            "413",
            error_response("The body is larger than MAX_BODY_BYTES"),
        ));
        responses.push((
            "415",
            error_response("The body is not `Content-Type: application/json`"),
        ));
    }
    if traits.json_body || traits.query {
        responses.push((
            "422",
            error_response(match (traits.json_body, traits.query) {
                (true, true) => "A body field or query parameter is missing, of the wrong type or out of range (the message names it)",
                (true, false) => "A body field is missing, of the wrong type or invalid (the message names it)",
                _ => "A query parameter is of the wrong type or out of range (the message names it)",
            }),
        ));
    }
    if traits.api_group {
        responses.push((
            "429",
            ResponseBuilder::new()
                .description("Over RATE_LIMIT_PER_MINUTE for this client (`data.retry_after`)")
                .content(
                    "application/json",
                    envelope_content(Ref::from_schema_name("RateLimited")),
                )
                .header(
                    "Retry-After",
                    seconds_header("Whole seconds until a request would be allowed"),
                )
                .build(),
        ));
        let mut unavailable = error_response(
            "The request took longer than REQUEST_TIMEOUT_SECONDS, or the database (or the audit log) \
             is unavailable or busy; try again",
        );
        unavailable.headers.insert(
            "Retry-After".to_owned(),
            seconds_header("Seconds to wait (database answers)"),
        );
        responses.push(("503", unavailable));
    }
    responses
}

/// The alternatives of a response schema: the items of a `oneOf`, else the schema itself.
fn alternatives(schema: &RefOr<Schema>) -> Vec<RefOr<Schema>> {
    match schema {
        RefOr::T(Schema::OneOf(one_of)) => one_of.items.clone(),
        other => vec![other.clone()],
    }
}

/// Adds `shared` to the operation's responses. A status the route documents itself keeps its
/// description (it is more specific), gains the shared headers, and its body schema becomes the
/// union of both when they differ (a role refusal's `message` and a scope refusal's `data`).
fn merge(operation: &mut Operation, status: &str, shared: Response) {
    let responses = &mut operation.responses.responses;
    let Some(RefOr::T(existing)) = responses.get_mut(status) else {
        responses.insert(status.to_owned(), RefOr::T(shared));
        return;
    };
    for (name, header) in shared.headers {
        existing.headers.entry(name).or_insert(header);
    }
    let mut widened = false;
    for (media_type, content) in shared.content {
        let Some(own) = existing.content.get_mut(&media_type) else {
            existing.content.insert(media_type, content);
            continue;
        };
        let (Some(own_schema), Some(shared_schema)) =
            (own.schema.as_ref(), content.schema.as_ref())
        else {
            own.schema = own.schema.take().or(content.schema);
            continue;
        };
        let mut union = alternatives(own_schema);
        for alternative in alternatives(shared_schema) {
            if !union.contains(&alternative) {
                union.push(alternative);
            }
        }
        if union.len() > alternatives(own_schema).len() {
            widened = true;
            let mut one_of = OneOfBuilder::new();
            for alternative in union {
                one_of = one_of.item(alternative);
            }
            own.schema = Some(one_of.into());
        }
    }
    if widened {
        // The route's own cause stays first; the shared one is what the new schema is for.
        let mut shared_cause = shared.description.chars();
        let shared_cause: String = shared_cause
            .next()
            .map(|first| first.to_lowercase().chain(shared_cause).collect())
            .unwrap_or_default();
        existing.description = format!("{}; or {shared_cause}", existing.description);
    }
}

/// A query value is never JSON `null`: it is there or it is not. `IntoParams` structs without
/// `#[into_params(parameter_in = Query)]` come out as (required) path parameters; a parameter
/// that the path template does not name is a query parameter, optional when its type is.
fn fix_query_parameter(path: &str, parameter: &mut utoipa::openapi::path::Parameter) {
    if parameter.parameter_in == ParameterIn::Path
        && !path.contains(&format!("{{{}}}", parameter.name))
    {
        parameter.parameter_in = ParameterIn::Query;
    }
    if parameter.parameter_in != ParameterIn::Query {
        return;
    }
    let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut() else {
        return;
    };
    if let utoipa::openapi::schema::SchemaType::Array(types) = &object.schema_type {
        if types.contains(&Type::Null) {
            let rest: Vec<Type> = types
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .collect();
            object.schema_type = match rest.as_slice() {
                [one] => utoipa::openapi::schema::SchemaType::Type(one.clone()),
                _ => utoipa::openapi::schema::SchemaType::Array(rest),
            };
            parameter.required = Required::False;
        }
    }
}

fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.options,
        &mut item.head,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// Adds to every annotated operation the statuses of the shared machinery (see [`Traits`]).
struct SharedResponses;

impl Modify for SharedResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations_mut(item) {
                for parameter in operation.parameters.iter_mut().flatten() {
                    fix_query_parameter(path, parameter);
                }
                for (status, response) in shared_responses(Traits::of(path, operation)) {
                    merge(operation, status, response);
                }
            }
        }
    }
}

/// The stub routes, from the same table as the router.
struct StubPaths;

impl Modify for StubPaths {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for route in STUB_ROUTES {
            let mut paths = vec![route.path.to_owned()];
            if let Some(rest) = route.path.strip_prefix("/api/v1/workspaces") {
                paths.push(format!("/api/v1/workspacess{rest}"));
            }
            for (i, path) in paths.iter().enumerate() {
                let mut op = OperationBuilder::new()
                    .tag("resources")
                    .summary(Some(format!("Stub; requires `{}`", route.scope)))
                    .description(Some(if i == 0 {
                        "Answers which scope was required and which of the token's scopes granted it.".to_owned()
                    } else {
                        "Alias of the `workspaces` route (a spelling some clients use).".to_owned()
                    }))
                    .security(SecurityRequirement::new("pat", [route.scope.to_string()]))
                    .response(
                        "200",
                        ResponseBuilder::new().description("Allowed").content(
                            "application/json",
                            envelope_content(Enveloped::<StubAnswer>::schema()),
                        ),
                    );
                let has_id = path.contains("{id}");
                if has_id {
                    op = op.parameter(
                        ParameterBuilder::new()
                            .name("id")
                            .parameter_in(ParameterIn::Path)
                            .required(Required::True)
                            .description(Some("Any value: the stub does not look it up"))
                            .schema(Some(
                                ObjectBuilder::new()
                                    .schema_type(Type::String)
                                    .min_length(Some(1)),
                            )),
                    );
                }
                let mut op = op.build();
                let traits = Traits {
                    authenticated: true,
                    pat: true,
                    api_group: is_api_path(path),
                    // Stubs read neither a body nor the path.
                    path_params: has_id,
                    ..Traits::default()
                };
                for (status, response) in shared_responses(traits) {
                    merge(&mut op, status, response);
                }
                let method = match route.method {
                    "get" => HttpMethod::Get,
                    "post" => HttpMethod::Post,
                    "put" => HttpMethod::Put,
                    _ => HttpMethod::Delete,
                };
                openapi.paths.add_path_operation(path, vec![method], op);
            }
        }
    }
}

/// ReDoc 2.5.4 (`assets/redoc/`, MIT), compiled in: the page, its boot script and the bundle.
const REDOC_PAGE: &str = include_str!("../assets/redoc/index.html");
const REDOC_INIT: &str = include_str!("../assets/redoc/init.js");
const REDOC_BUNDLE: &str = include_str!("../assets/redoc/redoc.standalone.js");
const REDOC_LICENSES: &str = include_str!("../assets/redoc/redoc.standalone.js.LICENSE.txt");

/// The sidebar's "API docs by Redocly" logo, the one thing the bundle loads from off the host.
const REDOCLY_LOGO: &str = "https://cdn.redoc.ly/redoc/logo-mini.svg";

/// The bundle as served: the logo URL replaced by an empty `data:` URL (ReDoc hides an image
/// that does not load), so the page makes no request off the host and breaks no CSP rule.
static REDOC_SERVED_BUNDLE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| REDOC_BUNDLE.replace(REDOCLY_LOGO, "data:,"));

/// What ReDoc needs and nothing more: scripts from here only (the page has no inline script),
/// inline styles (styled-components), `data:` images, the document from here, and a worker made
/// from a Blob (the search index).
pub const REDOC_CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn redoc_asset(
    content_type: &'static str,
    body: &'static str,
    cache: &'static str,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        body,
    )
        .into_response()
}

/// `/redoc` (ReDoc on `/openapi.json`) and its scripts under `/redoc/…`, with their own CSP.
/// Merged beside the Swagger UI routes in `router::router`.
pub fn redoc_routes() -> axum::Router {
    use axum::http::{header, HeaderValue};
    use axum::routing::get;
    // The page follows the document, so it is not cached; the scripts change only with the binary.
    const SCRIPT: &str = "text/javascript; charset=utf-8";
    const FOR_AN_HOUR: &str = "public, max-age=3600";
    axum::Router::new()
        .route(
            "/redoc",
            get(|| async { redoc_asset("text/html; charset=utf-8", REDOC_PAGE, "no-store") }),
        )
        .route(
            "/redoc/init.js",
            get(|| async { redoc_asset(SCRIPT, REDOC_INIT, FOR_AN_HOUR) }),
        )
        .route(
            "/redoc/redoc.standalone.js",
            get(|| async { redoc_asset(SCRIPT, REDOC_SERVED_BUNDLE.as_str(), FOR_AN_HOUR) }),
        )
        .route(
            "/redoc/redoc.standalone.js.LICENSE.txt",
            get(|| async { redoc_asset("text/plain; charset=utf-8", REDOC_LICENSES, FOR_AN_HOUR) }),
        )
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(REDOC_CSP),
        ))
}
