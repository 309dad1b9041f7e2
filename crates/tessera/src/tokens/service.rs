//! The owner's management of their personal access tokens, apart from HTTP: minting within the
//! role's ceiling, listing, reading, revoking, regenerating and paging a token's audit log. The
//! API (`routes.rs`), the CLI and the console call these; each says what went wrong with a
//! [`TokenError`], which they turn into a status, an exit code or a page.
//!
//! A user only ever reaches their own tokens: every query is filtered by the owner's id, and
//! another user's token id is [`TokenError::NotFound`], exactly like a missing one, so ids leak
//! nothing.

use std::sync::Arc;

use ipnet::IpNet;
use serde::Deserialize;
use time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

use super::cache::TokenCache;
use super::format::WellFormedPat;
use super::scopes::{Scope, ScopeSet};
use super::{ceiling, format, Token};
use crate::input::{echo, InvalidField, Paging};
use crate::store::{AuditFilter, AuditPage, NewSecret, NewToken, Store, TokenMilestone};
use crate::types::{Role, Timestamp};
use crate::webhooks::events::{Event, EventKind};
use serde_json::json;

const MAX_NAME_CHARS: usize = 100;
const MAX_LIFETIME_DAYS: i64 = 365;
const DEFAULT_LIFETIME_DAYS: i64 = 90;
const MAX_SCOPES: usize = 50;
const MAX_ALLOWED_IPS: usize = 100;
const MAX_LOG_PAGE: i64 = 1000;
/// A day: long enough for a nightly job to pick up its new secret, short enough that a leaked
/// old one is not a second token.
const MAX_GRACE_SECONDS: i64 = 86_400;
const DEFAULT_LOG_PAGE: i64 = 50;

// Also what `tessera tokens create` builds from its flags. (The doc comment is the schema's
// description in the OpenAPI document.)
/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// 1–100 characters.
    pub name: String,
    /// At least one scope, e.g. `["workspaces:read", "fcs:analyze"]`.
    pub scopes: Vec<String>,
    /// Lifetime in days, 1–365 (default 90). Give this or `expires_at`.
    pub expires_in_days: Option<i64>,
    /// RFC 3339 expiry within 365 days. Give this or `expires_in_days`.
    pub expires_at: Option<String>,
    /// Optional CIDR blocks (or single addresses) the token may be used from.
    pub allowed_ips: Option<Vec<String>>,
}

/// Body of `POST /api/v1/tokens/{id}/regenerate` and `POST /api/v1/tokens/self/rotate`; both
/// fields optional, and so is the body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewTokenRequest {
    /// The new lifetime in days, 1–365, counted from now (default: the token's lifetime so far).
    pub expires_in_days: Option<i64>,
    /// How long the replaced secret keeps working, 0–86,400 seconds (default 0: it stops at
    /// once). Its uses meanwhile are audited with reason `previous secret (grace)`.
    pub grace_seconds: Option<i64>,
}

/// Why a token operation did not happen. The `Display` text is what a person is shown.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A field of the request breaks its rule; the text names it and says what is wrong.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// The request asks for scopes the owner's role may not hold.
    #[error("A token cannot do more than its owner: your role ({role}) may not hold {}", join(.beyond))]
    BeyondRole {
        /// The owner's role now.
        role: Role,
        /// The requested scopes beyond it.
        beyond: Vec<Scope>,
    },
    /// The request asks a service account's token for scopes its role may not hold.
    #[error("A token cannot do more than its owner: the service account's role ({role}) may not hold {}", join(.beyond))]
    BeyondAccountRole {
        /// The account's role now.
        role: Role,
        /// The requested scopes beyond it.
        beyond: Vec<Scope>,
    },
    /// The owner no longer exists (their session outlived the account).
    #[error("the token owner {owner} no longer exists")]
    OwnerGone {
        /// The missing owner.
        owner: Uuid,
    },
    /// No token with this id belongs to the owner.
    #[error("Token not found")]
    NotFound {
        /// The id asked for.
        id: Uuid,
    },
    /// The token is revoked, so it cannot be given a new secret.
    #[error("Token is revoked; create a new token instead")]
    Revoked {
        /// The revoked token.
        id: Uuid,
    },
    /// The database failed.
    #[error("the token store failed: {0}")]
    Store(#[from] sqlx::Error),
    /// A stored token could not be read back, or its fields could not be written.
    #[error("a stored token is unreadable: {0}")]
    Corrupt(#[from] anyhow::Error),
}

fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(Scope::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A token with its secret, which exists only here: it is stored as a hash and shown once.
pub struct IssuedToken {
    pub token: Token,
    pub secret: String,
}

/// A validated creation request.
struct TokenSpec {
    name: String,
    scopes: ScopeSet,
    expires_at: Timestamp,
    allowed_ips: Option<Vec<IpNet>>,
}

fn invalid<T>(message: impl Into<String>) -> Result<T, TokenError> {
    Err(InvalidField::new(message).into())
}

fn validate_name(raw: &str) -> Result<String, TokenError> {
    let name = raw.trim();
    if name.is_empty() {
        return invalid("name must not be empty");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return invalid(format!("name must be at most {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return invalid("name must not contain control characters");
    }
    Ok(name.to_owned())
}

fn validate_scopes(raw: &[String]) -> Result<ScopeSet, TokenError> {
    if raw.is_empty() {
        return invalid("scopes must list at least one scope");
    }
    if raw.len() > MAX_SCOPES {
        return invalid(format!("scopes may list at most {MAX_SCOPES} scopes"));
    }
    ScopeSet::parse(raw).or_else(|unknown| {
        let valid: Vec<String> = Scope::all().map(|s| s.to_string()).collect();
        invalid(format!(
            "unknown scope(s): {}; valid scopes are: {}",
            unknown
                .iter()
                .map(|s| echo(s))
                .collect::<Vec<_>>()
                .join(", "),
            valid.join(", ")
        ))
    })
}

fn validate_expiry(
    days: Option<i64>,
    at: Option<&str>,
    now: Timestamp,
) -> Result<Timestamp, TokenError> {
    match (days, at) {
        (Some(_), Some(_)) => invalid("give either expires_in_days or expires_at, not both"),
        (days, None) => Ok(now + validate_lifetime_days(days.unwrap_or(DEFAULT_LIFETIME_DAYS))?),
        (None, Some(raw)) => {
            let Some(at) = Timestamp::parse_rfc3339(raw) else {
                return invalid("expires_at must be an RFC 3339 time such as 2025-01-15T10:30:00Z");
            };
            if at <= now {
                return invalid("expires_at must be in the future");
            }
            if at > now + Duration::days(MAX_LIFETIME_DAYS) {
                return invalid(format!(
                    "expires_at must be within {MAX_LIFETIME_DAYS} days"
                ));
            }
            Ok(at)
        }
    }
}

fn validate_allowed_ips(raw: Option<&[String]>) -> Result<Option<Vec<IpNet>>, TokenError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.is_empty() {
        return invalid("allowed_ips must not be empty; leave it out to allow any address");
    }
    if raw.len() > MAX_ALLOWED_IPS {
        return invalid(format!(
            "allowed_ips may list at most {MAX_ALLOWED_IPS} entries"
        ));
    }
    raw.iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .or_else(|_| {
                    invalid(format!(
                        "allowed_ips: `{}` is not an IP address or CIDR block",
                        echo(entry)
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn validate(request: &CreateTokenRequest, now: Timestamp) -> Result<TokenSpec, TokenError> {
    Ok(TokenSpec {
        name: validate_name(&request.name)?,
        scopes: validate_scopes(&request.scopes)?,
        expires_at: validate_expiry(request.expires_in_days, request.expires_at.as_deref(), now)?,
        allowed_ips: validate_allowed_ips(request.allowed_ips.as_deref())?,
    })
}

/// The allowed networks as text, as they are stored and shown.
pub fn allowed_ip_strings(nets: &Option<Vec<IpNet>>) -> Option<Vec<String>> {
    nets.as_ref()
        .map(|nets| nets.iter().map(IpNet::to_string).collect())
}

/// Refuses `scopes` beyond what the service account `account`'s role allows now.
async fn within_account_role(
    store: &Store,
    account: Uuid,
    scopes: &ScopeSet,
) -> Result<(), TokenError> {
    let role = store
        .user_role(account)
        .await?
        .ok_or(TokenError::OwnerGone { owner: account })?;
    let beyond = ceiling::beyond_role(role, scopes);
    if !beyond.is_empty() {
        return Err(TokenError::BeyondAccountRole { role, beyond });
    }
    Ok(())
}

/// Refuses `scopes` beyond what `owner`'s role allows now.
async fn within_role(store: &Store, owner: Uuid, scopes: &ScopeSet) -> Result<(), TokenError> {
    let role = store
        .user_role(owner)
        .await?
        .ok_or(TokenError::OwnerGone { owner })?;
    let beyond = ceiling::beyond_role(role, scopes);
    if !beyond.is_empty() {
        return Err(TokenError::BeyondRole { role, beyond });
    }
    Ok(())
}

/// Validates `request` and stores a new token for `owner`, within what the owner's role may
/// hold. The secret is in the answer only.
pub async fn issue_token(
    store: &Store,
    owner: Uuid,
    request: &CreateTokenRequest,
    now: Timestamp,
) -> Result<IssuedToken, TokenError> {
    mint(store, owner, None, request, now).await
}

/// Validates `request` and stores a new token for the service account `account`, minted by the
/// person `minter`: within what the account's role may hold and what the minter's may (a token
/// never does more than its owner, nor than whoever gave it out). The token records its minter.
pub async fn issue_service_token(
    store: &Store,
    account: Uuid,
    minter: Uuid,
    request: &CreateTokenRequest,
    now: Timestamp,
) -> Result<IssuedToken, TokenError> {
    mint(store, account, Some(minter), request, now).await
}

async fn mint(
    store: &Store,
    owner: Uuid,
    minter: Option<Uuid>,
    request: &CreateTokenRequest,
    now: Timestamp,
) -> Result<IssuedToken, TokenError> {
    let spec = validate(request, now)?;
    match minter {
        None => within_role(store, owner, &spec.scopes).await?,
        Some(minter) => {
            within_role(store, minter, &spec.scopes).await?;
            within_account_role(store, owner, &spec.scopes).await?;
        }
    }
    let minted = format::generate();
    let scopes_json =
        serde_json::to_string(&spec.scopes.to_strings()).map_err(anyhow::Error::from)?;
    let allowed_json = allowed_ip_strings(&spec.allowed_ips)
        .map(|ips| serde_json::to_string(&ips))
        .transpose()
        .map_err(anyhow::Error::from)?;
    let token = Token {
        id: Uuid::now_v7(),
        user_id: owner,
        name: spec.name,
        prefix: minted.prefix,
        hash: minted.hash.0.to_vec(),
        scopes: spec.scopes,
        allowed_ips: spec.allowed_ips,
        created_at: now,
        expires_at: spec.expires_at,
        last_used_at: None,
        last_used_ip: None,
        revoked_at: None,
        created_by: minter,
    };
    store
        .insert_token(&NewToken {
            id: token.id,
            user_id: token.user_id,
            name: &token.name,
            token_prefix: &token.prefix,
            token_hash: &token.hash,
            scopes: &scopes_json,
            allowed_ips: allowed_json.as_deref(),
            created_at: token.created_at,
            expires_at: token.expires_at,
            created_by: token.created_by,
            expiry_notified_days: super::expiry::threshold_inside(
                token.expires_at - token.created_at,
            ),
        })
        .await?;
    tracing::info!(token_id = %token.id, user_id = %token.user_id, prefix = %token.prefix, "token created");
    Ok(IssuedToken {
        token,
        secret: minted.secret,
    })
}

/// The owner's tokens, newest first.
pub async fn list_tokens(store: &Store, owner: Uuid) -> Result<Vec<Token>, TokenError> {
    let rows = store.list_tokens(owner).await?;
    Ok(rows
        .into_iter()
        .map(Token::try_from)
        .collect::<anyhow::Result<Vec<_>>>()?)
}

/// One of the owner's tokens.
pub async fn owned_token(store: &Store, owner: Uuid, id: Uuid) -> Result<Token, TokenError> {
    let row = store
        .find_token(owner, id)
        .await?
        .ok_or(TokenError::NotFound { id })?;
    Ok(Token::try_from(row)?)
}

/// Who revoked a token, as its `token.revoked` event says.
#[derive(Debug, Clone, Copy)]
pub enum RevokedBy {
    /// Its owner (or, for a service account's token, an admin or manager through its page).
    Owner,
    /// An admin, through the token inventory.
    Admin(Uuid),
    /// An operator, through the CLI.
    Operator,
}

impl RevokedBy {
    fn describe(self) -> serde_json::Value {
        match self {
            RevokedBy::Owner => json!({ "kind": "owner" }),
            RevokedBy::Admin(id) => json!({ "kind": "admin", "id": id }),
            RevokedBy::Operator => json!({ "kind": "operator" }),
        }
    }
}

/// Revokes a token — one of `owner`'s, or anyone's when `owner` is `None` — with its
/// `token.revoked` event in the same transaction (the first time only: revoking again changes
/// nothing and tells nobody; the answer says which it was). `None` if there is no such token.
/// The caller empties the token caches.
pub async fn revoke(
    store: &Store,
    owner: Option<Uuid>,
    id: Uuid,
    by: RevokedBy,
    now: Timestamp,
) -> Result<Option<(TokenMilestone, bool)>, sqlx::Error> {
    let mut tx = store.begin().await?;
    let Some((revoked, newly)) = tx.revoke_token(owner, id, now).await? else {
        return Ok(None);
    };
    if newly {
        let data = json!({
            "token": { "id": revoked.id, "name": revoked.name },
            "revoked_by": by.describe(),
        });
        let event = Event::new(
            EventKind::TokenRevoked,
            person_to_tell(revoked.user_id, revoked.created_by),
            data,
            now,
        );
        tx.enqueue_event(&event.row()).await?;
    }
    tx.commit().await?;
    tracing::info!(token_id = %id, user_id = %revoked.user_id, "token revoked");
    Ok(Some((revoked, newly)))
}

/// Whom a token's events are for: its owner, or for a service account's token the person who
/// minted it (a service account registers no endpoints).
pub(crate) fn person_to_tell(owner: Uuid, minted_by: Option<Uuid>) -> Uuid {
    minted_by.unwrap_or(owner)
}

/// Revokes one of the owner's tokens at once and answers when; revoking again answers the first
/// time. Revocation ends a previous secret's grace too. `cache` is this instance's, emptied
/// before the answer: once the caller hears "revoked", this instance refuses the token (the
/// others learn through the change feed).
pub async fn revoke_token(
    store: &Store,
    cache: &TokenCache,
    owner: Uuid,
    id: Uuid,
    now: Timestamp,
) -> Result<Timestamp, TokenError> {
    let (revoked, _) = revoke(store, Some(owner), id, RevokedBy::Owner, now)
        .await?
        .ok_or(TokenError::NotFound { id })?;
    cache.invalidate();
    Ok(revoked.at)
}

/// Gives one of the owner's tokens a new secret. The secret it replaces keeps working for the
/// requested grace (default none: it stops at once); an older secret still in its grace stops
/// now. The new expiry is `expires_in_days` from now, or else the token's original lifetime
/// counted from now. A revoked token cannot be brought back, nor one holding scopes beyond the
/// owner's role now.
pub async fn regenerate_token(
    store: &Store,
    cache: &TokenCache,
    owner: Uuid,
    id: Uuid,
    request: &RenewTokenRequest,
    now: Timestamp,
) -> Result<IssuedToken, TokenError> {
    let grace = validate_grace(request.grace_seconds)?;
    let lifetime = request
        .expires_in_days
        .map(validate_lifetime_days)
        .transpose()?;
    let current = owned_token(store, owner, id).await?;
    if current.revoked_at.is_some() {
        return Err(TokenError::Revoked { id });
    }
    // A new secret is a new lease on the scopes: no more than the owner's role allows now, or a
    // token minted before a demotion would live on, renewed, past every review.
    within_role(store, owner, &current.scopes).await?;
    // The token's lifetime so far: its first lifetime, plus the time each earlier renewal had
    // used (`created_at` stays the token's birth). Never more than a token may be given.
    let lifetime = lifetime
        .unwrap_or(current.expires_at - current.created_at)
        .min(Duration::days(MAX_LIFETIME_DAYS));
    let minted = format::generate();
    let previous_valid_until = (!grace.is_zero()).then(|| now + grace);
    let mut tx = store.begin().await?;
    let row = tx
        .replace_token_secret(
            owner,
            id,
            &NewSecret {
                token_prefix: &minted.prefix,
                token_hash: &minted.hash.0,
                expires_at: now + lifetime,
                previous_valid_until,
                expiry_notified_days: super::expiry::threshold_inside(lifetime),
            },
        )
        .await?
        // Revoked between the read and the update.
        .ok_or(TokenError::Revoked { id })?;
    let data = json!({
        "token": { "id": row.id, "name": row.name },
        "expires_at": row.expires_at.to_rfc3339(),
        "previous_secret_valid_until": previous_valid_until.map(Timestamp::to_rfc3339),
    });
    let to_tell = person_to_tell(row.user_id, row.created_by);
    let event = Event::new(EventKind::TokenRegenerated, to_tell, data, now);
    tx.enqueue_event(&event.row()).await?;
    tx.commit().await?;
    // The old secret is cached under its hash: it must stop (or start being checked against its
    // grace) before the answer.
    cache.invalidate();
    tracing::info!(token_id = %id, user_id = %owner, prefix = %minted.prefix, grace_seconds = grace.whole_seconds(), "token regenerated");
    Ok(IssuedToken {
        token: Token::try_from(row)?,
        secret: minted.secret,
    })
}

fn validate_grace(seconds: Option<i64>) -> Result<Duration, TokenError> {
    let seconds = seconds.unwrap_or(0);
    if !(0..=MAX_GRACE_SECONDS).contains(&seconds) {
        return invalid(format!(
            "grace_seconds must be between 0 and {MAX_GRACE_SECONDS}"
        ));
    }
    Ok(Duration::seconds(seconds))
}

fn validate_lifetime_days(days: i64) -> Result<Duration, TokenError> {
    if !(1..=MAX_LIFETIME_DAYS).contains(&days) {
        return invalid(format!(
            "expires_in_days must be between 1 and {MAX_LIFETIME_DAYS}"
        ));
    }
    Ok(Duration::days(days))
}

/// A page of one of the owner's tokens' audit log, newest first: `limit` 1–1000 (default 50)
/// of the entries `filter` passes, after skipping `offset` (default 0).
pub async fn audit_log(
    store: &Store,
    owner: Uuid,
    id: Uuid,
    filter: AuditFilter,
    limit: Option<i64>,
    offset: Option<i64>,
) -> Result<(Token, AuditPage), TokenError> {
    let paging = Paging::read(limit, offset, DEFAULT_LOG_PAGE, MAX_LOG_PAGE)?;
    let token = owned_token(store, owner, id).await?;
    let page = store
        .audit_page(token.id, filter, paging.limit, paging.offset)
        .await?;
    Ok((token, page))
}

/// Which of a token's secrets a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedSecret {
    /// The token's secret now.
    Current,
    /// The secret its last regeneration replaced, which works until `valid_until` (inclusive).
    Previous { valid_until: Timestamp },
}

/// A token found by a presented secret.
#[derive(Debug)]
pub struct FoundToken {
    pub token: Arc<Token>,
    pub secret: PresentedSecret,
    /// Whether an admin has disabled the token's owner.
    pub owner_disabled: bool,
}

/// The token a presented secret belongs to, if any: from the cache, else by one indexed lookup
/// by display prefix and a constant-time hash comparison per candidate secret (a cache hit needs
/// no comparison: the key is the full SHA-256 of the secret). Only current secrets of enabled
/// owners are cached (a change of owner status empties the cache), so a previous secret's grace
/// and a disabled owner are judged against the stored rows on every use. Whether the
/// token may be used now — revoked, expired, past the grace, its networks — is the caller's to
/// judge.
pub async fn find_by_secret(
    store: &Store,
    cache: &TokenCache,
    presented: &WellFormedPat<'_>,
) -> Result<Option<FoundToken>, TokenError> {
    if let Some(token) = cache.get(&presented.hash) {
        return Ok(Some(FoundToken {
            token,
            secret: PresentedSecret::Current,
            owner_disabled: false,
        }));
    }
    let ticket = cache.ticket();
    for candidate in store.tokens_with_prefix(presented.prefix).await? {
        let previous = match (
            &candidate.previous_token_hash,
            candidate.previous_valid_until,
        ) {
            (Some(hash), Some(valid_until)) if presented.hash.matches(hash) => Some(valid_until),
            _ => None,
        };
        let owner_disabled = candidate.owner_disabled;
        if presented.hash.matches(&candidate.token.token_hash) {
            let token = Arc::new(Token::try_from(candidate.token)?);
            if !owner_disabled {
                cache.fill(ticket, presented.hash, token.clone());
            }
            return Ok(Some(FoundToken {
                token,
                secret: PresentedSecret::Current,
                owner_disabled,
            }));
        }
        if let Some(valid_until) = previous {
            return Ok(Some(FoundToken {
                token: Arc::new(Token::try_from(candidate.token)?),
                secret: PresentedSecret::Previous { valid_until },
                owner_disabled,
            }));
        }
    }
    Ok(None)
}
