//! The envelope's schemas for the OpenAPI document: every handler's annotation names these, and
//! `crate::openapi` assembles the document from the annotations.

use std::borrow::Cow;

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// The success envelope, for documentation.
#[derive(ToSchema)]
pub struct Enveloped<T: ToSchema> {
    /// Always true.
    pub success: bool,
    /// The payload.
    pub data: T,
}

/// `success: false`, the envelope's first field on every failure.
pub(crate) fn success_false() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([false]))
        .description(Some("Always false."))
}

/// `error`: the status's reason phrase.
pub(crate) fn reason_phrase() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("The HTTP reason phrase, e.g. `Unauthorized`."))
}

/// The error envelope, `{"success":false,"error":"<reason phrase>","message":"…"}`: every failure
/// but the two the contract gives a `data` object ([`ScopeRefusal`], [`RateLimited`]).
pub struct ErrorEnvelope;

impl PartialSchema for ErrorEnvelope {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .description(Some("The error envelope."))
            .property("success", success_false())
            .required("success")
            .property("error", reason_phrase())
            .required("error")
            .property(
                "message",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("A sentence a person can act on.")),
            )
            .required("message")
            .into()
    }
}

impl ToSchema for ErrorEnvelope {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorEnvelope")
    }
}

/// 403 for a PAT whose scopes do not reach the route's: `data` names both, no `message`.
pub struct ScopeRefusal;

impl PartialSchema for ScopeRefusal {
    fn schema() -> RefOr<Schema> {
        let data = ObjectBuilder::new()
            .property(
                "required_scope",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(
                        "The scope the route requires, e.g. `workspaces:read`.",
                    )),
            )
            .required("required_scope")
            .property(
                "your_scopes",
                ArrayBuilder::new()
                    .items(ObjectBuilder::new().schema_type(Type::String))
                    .description(Some("The token's scopes in grant order.")),
            )
            .required("your_scopes");
        ObjectBuilder::new()
            .description(Some("The token's scope is too low for the route."))
            .property("success", success_false())
            .required("success")
            .property("error", reason_phrase())
            .required("error")
            .property("data", data)
            .required("data")
            .into()
    }
}

impl ToSchema for ScopeRefusal {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ScopeRefusal")
    }
}

/// 429: `data.retry_after`, whole seconds (also the `Retry-After` header), no `message`.
pub struct RateLimited;

impl PartialSchema for RateLimited {
    fn schema() -> RefOr<Schema> {
        let data = ObjectBuilder::new()
            .property(
                "retry_after",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .description(Some("Whole seconds until a request would be allowed.")),
            )
            .required("retry_after");
        ObjectBuilder::new()
            .description(Some("Over RATE_LIMIT_PER_MINUTE."))
            .property("success", success_false())
            .required("success")
            .property("error", reason_phrase())
            .required("error")
            .property("data", data)
            .required("data")
            .into()
    }
}

impl ToSchema for RateLimited {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RateLimited")
    }
}
