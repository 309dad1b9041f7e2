//! The OpenAPI 3.1 document, generated from the handlers' annotations and the stub route table,
//! served at `/openapi.json` and browsable at `/docs` (Swagger UI bundled in the binary).

use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, Required};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::resources::stubs::{StubAnswer, STUB_ROUTES};
use crate::tokens::scopes::Scope;

/// The success envelope, for documentation.
#[derive(ToSchema)]
pub struct Enveloped<T: ToSchema> {
    /// Always true.
    pub success: bool,
    /// The payload.
    pub data: T,
}

/// The error envelope: `message`, or `data` where the contract says so (403 scope, 429).
#[derive(ToSchema)]
pub struct ErrorEnvelope {
    /// Always false.
    pub success: bool,
    /// The HTTP reason phrase, e.g. `Unauthorized`.
    pub error: String,
    /// A sentence a person can act on.
    pub message: Option<String>,
    /// Structured detail: `required_scope` + `your_scopes` (403) or `retry_after` (429).
    pub data: Option<serde_json::Value>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera", description = "Accounts, personal access tokens and the resources they guard. \
        PAT-protected routes take `Authorization: Bearer pat_…`; the tokens API takes the JWT from login. \
        Every error uses the envelope `{\"success\":false,\"error\":…,\"message\":…}`."),
    paths(
        crate::app::health,
        crate::app::ready,
        crate::accounts::api::register,
        crate::accounts::api::login,
        crate::accounts::api::refresh,
        crate::accounts::profile::logout,
        crate::accounts::profile::logout_all,
        crate::accounts::profile::list_sessions,
        crate::accounts::profile::end_session,
        crate::accounts::profile::get_profile,
        crate::accounts::profile::update_profile,
        crate::accounts::profile::change_password,
        crate::accounts::profile::change_role,
        crate::app::jwks,
        crate::tokens::api::create_token,
        crate::tokens::api::list_tokens,
        crate::tokens::api::get_token,
        crate::tokens::api::revoke_token,
        crate::tokens::api::regenerate_token,
        crate::tokens::api::token_logs,
        crate::resources::fcs::parameters,
        crate::resources::fcs::events,
        crate::resources::fcs::statistics,
        crate::resources::fcs::upload,
        crate::resources::fcs::list_files,
        crate::resources::fcs::delete_file,
        crate::resources::case_records::beneficiaries::list_beneficiaries,
        crate::resources::case_records::beneficiaries::create,
        crate::resources::case_records::beneficiaries::get_beneficiary,
        crate::resources::case_records::beneficiaries::update_beneficiary,
        crate::resources::case_records::beneficiaries::delete_beneficiary,
        crate::resources::case_records::sessions::list_sessions,
        crate::resources::case_records::sessions::create_session,
        crate::resources::case_records::sessions::get_session,
        crate::resources::case_records::sessions::update_session,
        crate::resources::case_records::sessions::complete_session,
        crate::resources::case_records::sessions::cancel_session,
        crate::resources::case_records::sessions::upcoming_sessions,
        crate::resources::case_records::access_log::access_log,
        crate::connections::clients::create,
        crate::connections::clients::list,
        crate::connections::clients::get_client,
        crate::connections::clients::update_client,
        crate::connections::clients::delete_client,
        crate::connections::branches::create,
        crate::connections::branches::list,
        crate::connections::branches::get_branch,
        crate::connections::branches::get_by_branch_id,
        crate::connections::branches::update_branch,
        crate::connections::branches::delete_branch,
        crate::connections::flow::start,
        crate::connections::flow::callback,
        crate::connections::tokens::get_token,
        crate::connections::tokens::validate_token,
        crate::connections::tokens::refresh_token,
        crate::connections::tokens::get_connection,
        crate::connections::tokens::disconnect,
        crate::connections::compat::create_client_and_branch,
        crate::connections::compat::login,
        crate::connections::compat::refresh,
        crate::connections::compat::token,
    ),
    components(schemas(ErrorEnvelope, StubAnswer)),
    modifiers(&SecuritySchemes, &StubPaths),
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
struct ApiDoc;

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
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

struct StubPaths;

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build()
}

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
                            ContentBuilder::new().schema(Some(Ref::from_schema_name("StubAnswer"))).build(),
                        ),
                    )
                    .response("401", error_response("Missing token / Token revoked / Token expired / Invalid token"))
                    .response("403", error_response("Scope too low (data: required_scope, your_scopes) or IP not allowed"))
                    .response("429", error_response("Rate limited (data: retry_after)"));
                if path.contains("{id}") {
                    op = op.parameter(
                        ParameterBuilder::new()
                            .name("id")
                            .parameter_in(ParameterIn::Path)
                            .required(Required::True),
                    );
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
