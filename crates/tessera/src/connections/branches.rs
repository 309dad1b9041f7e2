//! Branches (`connections:write`; reading them needs `connections:read`): business locations,
//! each connecting through one of the owner's OAuth clients. What a body may set, the field
//! rules, and the view.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::errors::ConnectionError;
use crate::input::{
    email, optional, optional_text, required, required_text, Field, InvalidField, LONG_TEXT,
    SHORT_TEXT,
};
use crate::store::{BranchRecord, Store};
use crate::types::Timestamp;

/// A branch as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchView {
    /// Tessera's id (used in the branch routes).
    pub id: Uuid,
    /// The caller's own identifier, unique per owner.
    pub branch_id: String,
    /// The OAuth client (Tessera's id) the branch connects through.
    pub client_id: Uuid,
    /// Display name.
    pub name: String,
    /// Provider account id.
    pub account_id: Option<String>,
    /// Provider location id.
    pub location_id: Option<String>,
    /// Contact email.
    pub email: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Inactive branches hand out no tokens.
    pub is_active: bool,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Last change.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<BranchRecord> for BranchView {
    fn from(b: BranchRecord) -> Self {
        BranchView {
            id: b.id,
            branch_id: b.branch_id,
            client_id: b.oauth_client_id,
            name: b.name,
            account_id: b.account_id,
            location_id: b.location_id,
            email: b.email,
            description: b.description,
            is_active: b.is_active,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

/// Body of create (required: `branch_id`, `name`, `client_id`) and PATCH (absent = unchanged;
/// `null` clears an optional field). Unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BranchBody {
    /// Your identifier for the branch (1–200 characters), unique among your branches.
    #[schema(value_type = Option<String>)]
    pub branch_id: Field<String>,
    /// The OAuth client (Tessera's id) to connect through.
    #[schema(value_type = Option<Uuid>)]
    pub client_id: Field<Uuid>,
    /// Display name.
    #[schema(value_type = Option<String>)]
    pub name: Field<String>,
    /// Provider account id.
    #[schema(value_type = Option<String>)]
    pub account_id: Field<String>,
    /// Provider location id.
    #[schema(value_type = Option<String>)]
    pub location_id: Field<String>,
    /// Contact email.
    #[schema(value_type = Option<String>)]
    pub email: Field<String>,
    /// Free text.
    #[schema(value_type = Option<String>)]
    pub description: Field<String>,
    /// Default true.
    #[schema(value_type = Option<bool>)]
    pub is_active: Field<bool>,
}

/// Applies `body` onto `current` (a new branch when `None`), validating every field and that the
/// OAuth client is the caller's.
pub async fn apply(
    store: &Store,
    owner_id: Uuid,
    body: BranchBody,
    current: Option<BranchRecord>,
) -> Result<BranchRecord, ConnectionError> {
    let now = Timestamp::now();
    let c = current.as_ref();
    let client = required(
        "client_id",
        body.client_id,
        c.map(|c| c.oauth_client_id),
        Ok::<_, InvalidField>,
    )?;
    if c.is_none_or(|c| c.oauth_client_id != client) {
        if store.find_oauth_client(owner_id, client).await?.is_none() {
            return Err(InvalidField::new("client_id names no OAuth client of yours").into());
        }
        // The grant belongs to the old client; the new one's endpoints must never receive it.
        if let Some(current) = c {
            if store.read_connection(current.id).await?.is_some() {
                return Err(ConnectionError::BranchConnected {
                    branch_id: current.id,
                });
            }
        }
    }
    Ok(BranchRecord {
        id: c.map_or_else(Uuid::now_v7, |c| c.id),
        owner_id,
        oauth_client_id: client,
        branch_id: required_text(
            "branch_id",
            body.branch_id,
            c.map(|c| c.branch_id.clone()),
            SHORT_TEXT,
        )?,
        name: required_text("name", body.name, c.map(|c| c.name.clone()), SHORT_TEXT)?,
        account_id: optional_text(
            "account_id",
            body.account_id,
            c.and_then(|c| c.account_id.clone()),
            SHORT_TEXT,
        )?,
        location_id: optional_text(
            "location_id",
            body.location_id,
            c.and_then(|c| c.location_id.clone()),
            SHORT_TEXT,
        )?,
        email: optional(body.email, c.and_then(|c| c.email.clone()), |raw| {
            email("email", raw)
        })?,
        description: optional_text(
            "description",
            body.description,
            c.and_then(|c| c.description.clone()),
            LONG_TEXT,
        )?,
        is_active: match body.is_active {
            Field::Value(active) => active,
            Field::Null => return Err(InvalidField::new("is_active cannot be null").into()),
            Field::Absent => c.is_none_or(|c| c.is_active),
        },
        created_at: c.map_or(now, |c| c.created_at),
        updated_at: now,
    })
}

/// Filters of the branch list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BranchFilter {
    /// Only branches using this OAuth client (Tessera's id).
    pub client_id: Option<Uuid>,
}

/// The caller's branches, as the tokens list has them: `{branches, total}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchList {
    /// Oldest first.
    pub branches: Vec<BranchView>,
    /// How many.
    pub total: usize,
}
