//! OAuth clients (`connections:admin`): app registrations at a provider. What a body may set, the
//! field rules, and the view. The client secret is sealed on the way in and never shown again;
//! the view says only that one is set.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::provider::{checked_endpoint, checked_redirect_uri};
use super::vault::{Slot, Vault};
use crate::input::{
    self as fields, named, optional, required, required_text, Field, InvalidField, SHORT_TEXT,
};
use crate::store::{OAuthClientRecord, Provider, TokenAuthMethod};
use crate::types::Timestamp;

/// Longest accepted client id or secret.
const MAX_CREDENTIAL: usize = 2_000;
/// Most scopes a client may request.
const MAX_SCOPES: usize = 50;

/// An OAuth client as the API shows it: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthClientView {
    /// Tessera's id.
    pub id: Uuid,
    /// A name for people.
    pub name: String,
    /// `google` or `generic`.
    #[schema(value_type = String)]
    pub provider: Provider,
    /// The provider's client id.
    pub client_id: String,
    /// Always true: a secret is stored (sealed) and is never shown again.
    pub client_secret_set: bool,
    /// The exact redirect URI registered at the provider.
    pub redirect_uri: String,
    /// Requested scopes; empty means the provider's defaults.
    pub scopes: Vec<String>,
    /// Endpoint overrides (null: the preset's).
    pub authorization_url: Option<String>,
    /// Token endpoint override.
    pub token_url: Option<String>,
    /// Revocation endpoint override.
    pub revocation_url: Option<String>,
    /// `client_secret_post` or `client_secret_basic`.
    #[schema(value_type = String)]
    pub token_auth_method: TokenAuthMethod,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<OAuthClientRecord> for OAuthClientView {
    fn from(c: OAuthClientRecord) -> Self {
        OAuthClientView {
            id: c.id,
            name: c.name,
            provider: c.provider,
            client_id: c.client_id,
            client_secret_set: true,
            redirect_uri: c.redirect_uri,
            scopes: c.scopes.0,
            authorization_url: c.authorization_url,
            token_url: c.token_url,
            revocation_url: c.revocation_url,
            token_auth_method: c.token_auth_method,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Body of create (required: `client_id`, `client_secret`, `redirect_uri`) and PATCH (absent =
/// unchanged; `null` clears an optional field). Unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthClientBody {
    /// A name for people (default: the client id).
    #[schema(value_type = Option<String>)]
    pub name: Field<String>,
    /// `google` (default) or `generic` (then `authorization_url` and `token_url` are required).
    #[schema(value_type = Option<String>)]
    pub provider: Field<String>,
    /// The provider's client id.
    #[schema(value_type = Option<String>)]
    pub client_id: Field<String>,
    /// The client secret: stored sealed, never answered.
    #[schema(value_type = Option<String>)]
    pub client_secret: Field<String>,
    /// The redirect URI registered at the provider, matched exactly; https, or http on localhost.
    #[schema(value_type = Option<String>)]
    pub redirect_uri: Field<String>,
    /// Scopes to request (default: the provider's).
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Field<Vec<String>>,
    /// Authorization endpoint override.
    #[schema(value_type = Option<String>)]
    pub authorization_url: Field<String>,
    /// Token endpoint override.
    #[schema(value_type = Option<String>)]
    pub token_url: Field<String>,
    /// Revocation endpoint override (RFC 7009).
    #[schema(value_type = Option<String>)]
    pub revocation_url: Field<String>,
    /// `client_secret_post` (default) or `client_secret_basic`.
    #[schema(value_type = Option<String>)]
    pub token_auth_method: Field<String>,
}

/// Applies `body` onto `current` (a new client when `None`), validating every field.
pub fn apply(
    vault: &Vault,
    allow_private_endpoints: bool,
    owner_id: Uuid,
    body: OAuthClientBody,
    current: Option<OAuthClientRecord>,
) -> Result<OAuthClientRecord, InvalidField> {
    let now = Timestamp::now();
    let id = current.as_ref().map_or_else(Uuid::now_v7, |c| c.id);
    let secret_given = matches!(body.client_secret, Field::Value(_));
    let client_id = required_text(
        "client_id",
        body.client_id,
        current.as_ref().map(|c| c.client_id.clone()),
        MAX_CREDENTIAL,
    )?;
    let sealed_secret = required(
        "client_secret",
        body.client_secret,
        current.as_ref().map(|c| c.client_secret_sealed.clone()),
        |secret| {
            if secret.is_empty() || secret.len() > MAX_CREDENTIAL {
                return Err(InvalidField::new(format!(
                    "client_secret must be 1 to {MAX_CREDENTIAL} characters"
                )));
            }
            Ok(vault.seal(Slot::ClientSecret(id), &secret))
        },
    )?;
    let url_field = |name: &str, field: Field<String>, current: Option<String>| {
        optional(field, current, |raw| {
            checked_endpoint(name, &raw, allow_private_endpoints)
        })
    };
    // The shared list rules (trimmed, no empty entries), then the OAuth ones.
    let scopes = fields::list(
        "scopes",
        body.scopes,
        current.as_ref().map(|c| c.scopes.clone()),
    )?;
    if scopes.0.len() > MAX_SCOPES {
        return Err(InvalidField::new(format!(
            "scopes may hold at most {MAX_SCOPES} entries"
        )));
    }
    if scopes
        .0
        .iter()
        .any(|scope| scope.contains(char::is_whitespace))
    {
        return Err(InvalidField::new(
            "scopes entries must not contain spaces (each entry is one scope)",
        ));
    }
    let record = OAuthClientRecord {
        id,
        owner_id,
        name: match body.name {
            Field::Value(name) => required_text("name", Field::Value(name), None, SHORT_TEXT)?,
            Field::Null => client_id.clone(),
            Field::Absent => current
                .as_ref()
                .map_or_else(|| client_id.clone(), |c| c.name.clone()),
        },
        provider: required(
            "provider",
            body.provider,
            Some(current.as_ref().map_or(Provider::Google, |c| c.provider)),
            |raw| named("provider", &raw),
        )?,
        redirect_uri: required(
            "redirect_uri",
            body.redirect_uri,
            current.as_ref().map(|c| c.redirect_uri.clone()),
            |raw| checked_redirect_uri(&raw),
        )?,
        authorization_url: url_field(
            "authorization_url",
            body.authorization_url,
            current.as_ref().and_then(|c| c.authorization_url.clone()),
        )?,
        token_url: url_field(
            "token_url",
            body.token_url,
            current.as_ref().and_then(|c| c.token_url.clone()),
        )?,
        revocation_url: url_field(
            "revocation_url",
            body.revocation_url,
            current.as_ref().and_then(|c| c.revocation_url.clone()),
        )?,
        token_auth_method: required(
            "token_auth_method",
            body.token_auth_method,
            Some(
                current
                    .as_ref()
                    .map_or(TokenAuthMethod::ClientSecretPost, |c| c.token_auth_method),
            ),
            |raw| named("token_auth_method", &raw),
        )?,
        client_id,
        client_secret_sealed: sealed_secret,
        scopes,
        created_at: current.as_ref().map_or(now, |c| c.created_at),
        updated_at: now,
    };
    // Tessera sends the client secret and every branch's refresh token to these endpoints: whoever
    // redirects them must show they hold the secret already.
    let redirected = current.as_ref().is_some_and(|c| {
        (
            &c.provider,
            &c.token_url,
            &c.revocation_url,
            &c.token_auth_method,
        ) != (
            &record.provider,
            &record.token_url,
            &record.revocation_url,
            &record.token_auth_method,
        )
    });
    if redirected && !secret_given {
        return Err(InvalidField::new(
            "client_secret is required when provider, token_url, revocation_url or token_auth_method change",
        ));
    }
    if record.provider == Provider::Generic {
        for (name, value) in [
            ("authorization_url", &record.authorization_url),
            ("token_url", &record.token_url),
        ] {
            if value.is_none() {
                return Err(InvalidField::new(format!(
                    "{name} is required for the generic provider"
                )));
            }
        }
    }
    Ok(record)
}

/// The caller's OAuth clients, as the tokens list has them: `{clients, total}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthClientList {
    /// Oldest first.
    pub clients: Vec<OAuthClientView>,
    /// How many.
    pub total: usize,
}
