//! The workspaces and users stubs: each answers which scope it required and which of the token's
//! scopes granted it, so clients can test their tokens against the hierarchy.
//!
//! Routes and their OpenAPI entries come from one table (`stub_routes!`) so they cannot drift.

use axum::extract::OriginalUri;
use axum::http::Method;
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::{ok, Success};
use crate::state::AppState;
use crate::tokens::scopes::{self, RequiredScope, Scope};
use crate::tokens::Pat;

/// What a stub answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct StubAnswer {
    /// The request path.
    endpoint: String,
    /// The request method.
    method: String,
    /// The scope this route requires.
    required_scope: String,
    /// The token's highest scope on this resource.
    granted_by: String,
    /// The token's scopes in grant order.
    your_scopes: Vec<String>,
}

async fn stub<R: RequiredScope>(
    pat: Pat<R>,
    method: Method,
    OriginalUri(uri): OriginalUri,
) -> Success<StubAnswer> {
    ok(StubAnswer {
        endpoint: uri.path().to_owned(),
        method: method.to_string(),
        required_scope: R::SCOPE.to_string(),
        granted_by: pat.granted_by.to_string(),
        your_scopes: pat.scopes.to_strings(),
    })
}

/// One stub route, for the OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub struct StubRoute {
    /// Lower-case method name.
    pub method: &'static str,
    /// Full path.
    pub path: &'static str,
    /// Scope it requires.
    pub scope: Scope,
}

macro_rules! stub_routes {
    ($($method:ident $path:literal => $scope:ident;)*) => {
        /// Every stub route: method, path, required scope.
        pub const STUB_ROUTES: &[StubRoute] = &[
            $(StubRoute { method: stringify!($method), path: $path, scope: <scopes::$scope as RequiredScope>::SCOPE },)*
        ];

        /// The stub routes; `workspaces` routes are also served under `workspacess`, a spelling
        /// some clients use.
        pub fn routes() -> Router<AppState> {
            let mut router = Router::new();
            $(
                router = router.route($path, $method(stub::<scopes::$scope>));
                if let Some(rest) = $path.strip_prefix("/api/v1/workspaces") {
                    router = router.route(&format!("/api/v1/workspacess{rest}"), $method(stub::<scopes::$scope>));
                }
            )*
            router
        }
    };
}

stub_routes! {
    get "/api/v1/workspaces" => WorkspacesRead;
    post "/api/v1/workspaces" => WorkspacesWrite;
    delete "/api/v1/workspaces/{id}" => WorkspacesDelete;
    put "/api/v1/workspaces/{id}/settings" => WorkspacesAdmin;
    get "/api/v1/users/me" => UsersRead;
    put "/api/v1/users/me" => UsersWrite;
}
