//! Service-account rules apart from HTTP: who manages them, what a new one gets, what deleting
//! one ends. Every change is a security event naming who made it.

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::accounts::password::{HashingError, PasswordHasher};
use crate::accounts::service::validate_username;
use crate::input::{checked_text, Field, InvalidField};
use crate::store::{
    unique_violation, NewServiceAccount, SecurityEvent, SecurityEventKind, ServiceAccountChanges,
    ServiceAccountRecord, Store,
};
use crate::tokens::cache::TokenCache;
use crate::tokens::service::{self as tokens, CreateTokenRequest, IssuedToken, TokenError};
use crate::tokens::Token;
use crate::types::{Role, Timestamp};

const MAX_DESCRIPTION_CHARS: usize = 500;

/// Why a service-account operation did not happen. The `Display` text is what a person is shown.
#[derive(Debug, thiserror::Error)]
pub enum ServiceAccountError {
    /// Only admins and managers manage service accounts.
    #[error("Only admins and managers manage service accounts")]
    NotManager,
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// No service account with this id (or it was deleted).
    #[error("Service account not found")]
    NotFound { id: Uuid },
    /// Another account has this name.
    #[error("An account with this name already exists")]
    NameTaken,
    /// A token operation failed (scopes beyond a role, a missing token).
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Hashing(#[from] HashingError),
    #[error("the account store failed: {0}")]
    Store(#[from] sqlx::Error),
}

/// Who manages service accounts: an admin or a manager signed in, or an operator at the
/// command line.
#[derive(Debug, Clone, Copy)]
pub struct Manager {
    /// `None`: an operator (`tessera service-accounts …`).
    user_id: Option<Uuid>,
}

impl Manager {
    /// `user_id` with `role`, if that role manages service accounts.
    pub fn check(user_id: Uuid, role: Role) -> Result<Manager, ServiceAccountError> {
        match role {
            Role::Admin | Role::Manager => Ok(Manager {
                user_id: Some(user_id),
            }),
            _ => Err(ServiceAccountError::NotManager),
        }
    }

    /// An operator at the command line.
    pub fn operator() -> Manager {
        Manager { user_id: None }
    }
}

/// Body of `POST /api/v1/service-accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    /// 3–50 characters of `A-Z a-z 0-9 _ . -`, unique among all accounts (`cytometer-3`).
    pub name: String,
    /// Up to 500 characters: what it is for, who to ask.
    pub description: Option<String>,
    /// Its role on the case records: any but `admin`; default `member` (none).
    pub role: Option<String>,
}

/// Body of `PATCH /api/v1/service-accounts/{id}`: absent fields stay, `description: null`
/// clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceAccount {
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Field<String>,
    pub role: Option<String>,
}

fn validate_name(raw: &str) -> Result<String, ServiceAccountError> {
    let name = raw.trim();
    validate_username(name).map_err(|_| {
        InvalidField::new("name must be 3 to 50 characters of letters, digits, `_`, `.` and `-`")
    })?;
    Ok(name.to_owned())
}

fn validate_description(raw: &str) -> Result<Option<String>, ServiceAccountError> {
    let text = checked_text("description", raw, MAX_DESCRIPTION_CHARS)?;
    Ok((!text.is_empty()).then_some(text))
}

/// A service account never administers: its role is any but `admin`.
fn validate_role(raw: &str) -> Result<Role, ServiceAccountError> {
    let role = raw
        .parse::<Role>()
        .map_err(|e| InvalidField::new(e.to_string()))?;
    if role == Role::Admin {
        return Err(InvalidField::new("role: a service account cannot be an admin").into());
    }
    Ok(role)
}

fn name_clash(error: sqlx::Error) -> ServiceAccountError {
    if unique_violation(&error).is_some() {
        ServiceAccountError::NameTaken
    } else {
        error.into()
    }
}

/// Makes a service account.
pub async fn create(
    store: &Store,
    passwords: &PasswordHasher,
    by: Manager,
    request: &CreateServiceAccount,
    now: Timestamp,
) -> Result<ServiceAccountRecord, ServiceAccountError> {
    let name = validate_name(&request.name)?;
    let description = request
        .description
        .as_deref()
        .map(validate_description)
        .transpose()?
        .flatten();
    let role = request
        .role
        .as_deref()
        .map(validate_role)
        .transpose()?
        .unwrap_or(Role::Member);
    // The column is required; a random password nobody is ever told cannot be used (and the
    // login query skips service accounts anyway).
    let unusable = passwords.hash(crate::crypto::random_base62(32)).await?;
    let id = Uuid::now_v7();
    store
        .insert_service_account(&NewServiceAccount {
            id,
            name: &name,
            description: description.as_deref(),
            role,
            password_hash: &unusable,
            created_by: by.user_id,
            created_at: now,
        })
        .await
        .map_err(name_clash)?;
    let detail = format!("service account {name} made with role {role}");
    record(
        store,
        SecurityEventKind::ServiceAccountCreated,
        id,
        by,
        &detail,
        now,
    )
    .await?;
    get(store, id, now).await
}

/// Every service account, by name.
pub async fn list(
    store: &Store,
    now: Timestamp,
) -> Result<Vec<ServiceAccountRecord>, ServiceAccountError> {
    Ok(store.list_service_accounts(now).await?)
}

/// One service account.
pub async fn get(
    store: &Store,
    id: Uuid,
    now: Timestamp,
) -> Result<ServiceAccountRecord, ServiceAccountError> {
    store
        .find_service_account(id, now)
        .await?
        .ok_or(ServiceAccountError::NotFound { id })
}

/// Renames a service account, or changes its description or role.
pub async fn update(
    store: &Store,
    by: Manager,
    id: Uuid,
    request: &UpdateServiceAccount,
    now: Timestamp,
) -> Result<ServiceAccountRecord, ServiceAccountError> {
    let changes = ServiceAccountChanges {
        name: request.name.as_deref().map(validate_name).transpose()?,
        description: match &request.description {
            Field::Absent => None,
            Field::Null => Some(None),
            Field::Value(text) => Some(validate_description(text)?),
        },
        role: request.role.as_deref().map(validate_role).transpose()?,
    };
    let before = get(store, id, now).await?;
    if !store
        .update_service_account(id, &changes)
        .await
        .map_err(name_clash)?
    {
        return Err(ServiceAccountError::NotFound { id });
    }
    if let Some(role) = changes.role.filter(|role| *role != before.role) {
        let detail = format!(
            "service account role changed from {} to {role}",
            before.role
        );
        record(store, SecurityEventKind::RoleChanged, id, by, &detail, now).await?;
    }
    get(store, id, now).await
}

/// Deletes a service account: its tokens are revoked at once (on every instance), it is
/// disabled, and it leaves the listings; the record stays for its tokens' audit history.
/// Returns how many tokens were revoked.
pub async fn delete(
    store: &Store,
    cache: &TokenCache,
    by: Manager,
    id: Uuid,
    now: Timestamp,
) -> Result<u64, ServiceAccountError> {
    let revoked = store
        .delete_service_account(id, now)
        .await?
        .ok_or(ServiceAccountError::NotFound { id })?;
    cache.invalidate();
    let detail = format!("service account deleted; {revoked} token(s) revoked");
    record(
        store,
        SecurityEventKind::ServiceAccountDeleted,
        id,
        by,
        &detail,
        now,
    )
    .await?;
    Ok(revoked)
}

/// Mints a token for the service account, within its role and the minter's (an operator's is
/// within the account's role, and records no minter).
pub async fn mint_token(
    store: &Store,
    by: Manager,
    id: Uuid,
    request: &CreateTokenRequest,
    now: Timestamp,
) -> Result<IssuedToken, ServiceAccountError> {
    get(store, id, now).await?;
    Ok(match by.user_id {
        Some(minter) => tokens::issue_service_token(store, id, minter, request, now).await?,
        None => tokens::issue_token(store, id, request, now).await?,
    })
}

/// The service account's tokens, newest first.
pub async fn tokens_of(
    store: &Store,
    id: Uuid,
    now: Timestamp,
) -> Result<Vec<Token>, ServiceAccountError> {
    get(store, id, now).await?;
    Ok(tokens::list_tokens(store, id).await?)
}

async fn record(
    store: &Store,
    kind: SecurityEventKind,
    account: Uuid,
    by: Manager,
    detail: &str,
    now: Timestamp,
) -> Result<(), ServiceAccountError> {
    let event = SecurityEvent::about_account(kind, account, detail, by.user_id);
    crate::accounts::security_log::record(store, event, now).await?;
    Ok(())
}
