//! Account administration apart from HTTP: listing accounts with their status, disabling and
//! enabling them, clearing a login lock. Each action is a security event naming who did it.
//!
//! Disabling is the answer to "she left today": every session ends in the same transaction, the
//! account cannot sign in, and its PATs answer `Account disabled` on every instance (the token
//! caches are emptied like after a revocation). Nothing is deleted, so enabling restores the
//! tokens (not the sessions).

use crate::tokens::service::RevokedBy;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::accounts::login_guard::account_lock_key;
use crate::input::{named, InvalidField, Paging};
use crate::store::{
    AccountFilter, AccountKind, AccountStatus, AdminAccountRecord, Disabling, EventFilter,
    LinkPurpose, NewAccountLink, SecurityEvent, SecurityEventKind, SecurityEventRecord, Store,
    TokenState,
};
use crate::tokens::cache::TokenCache;
use crate::tokens::scopes::Scope;
use crate::types::{Role, Timestamp};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;
const MAX_SEARCH_CHARS: usize = 100;

/// Who administers: an admin signed in, or an operator at the command line (who holds the
/// database already, so is trusted as any admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Administrator {
    /// A signed-in admin: their user id.
    Admin(Uuid),
    /// `tessera users …`.
    Operator,
}

impl Administrator {
    fn actor_id(self) -> Option<Uuid> {
        match self {
            Administrator::Admin(id) => Some(id),
            Administrator::Operator => None,
        }
    }

    fn describe(self) -> String {
        match self {
            Administrator::Admin(id) => format!("by admin {id}"),
            Administrator::Operator => "by an operator (CLI)".to_owned(),
        }
    }
}

impl From<Administrator> for RevokedBy {
    fn from(by: Administrator) -> Self {
        match by {
            Administrator::Admin(id) => RevokedBy::Admin(id),
            Administrator::Operator => RevokedBy::Operator,
        }
    }
}

/// Why an administrative action did not happen. The `Display` text is what a person is shown.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A field of the request breaks its rule.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// No account with this id.
    #[error("User not found")]
    UserNotFound {
        /// The id asked for.
        id: Uuid,
    },
    /// Disabling oneself would end the session doing it; another admin must.
    #[error("You cannot disable your own account; ask another admin")]
    OwnAccount,
    /// Disabling the last enabled admin would leave nobody to enable anyone.
    #[error("This is the last enabled admin: make another admin first")]
    LastAdmin,
    /// A service account has no password to reset.
    #[error("A service account signs in with its tokens, not a password")]
    NotAPerson,
    /// A reset link for a disabled account would not let its owner in.
    #[error("The account is disabled: enable it first")]
    Disabled,
    /// An invitation to an email that already has an account.
    #[error("An account with this email already exists")]
    EmailTaken,
    /// No token with this id.
    #[error("Token not found")]
    TokenNotFound {
        /// The id asked for.
        id: Uuid,
    },
    /// A stored token could not be read back.
    #[error("a stored token is unreadable: {0}")]
    Corrupt(anyhow::Error),
    /// The database failed.
    #[error("the account store failed: {0}")]
    Store(#[from] sqlx::Error),
}

/// Query of `GET /api/v1/admin/users` (and what `tessera users list` builds).
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Part of the username or email, any case.
    pub search: Option<String>,
    /// Only this role.
    pub role: Option<String>,
    /// `active`, `disabled` or `locked`.
    pub status: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// 0 or more, default 0.
    pub offset: Option<i64>,
}

/// A page of accounts and how many match in all.
#[derive(Debug)]
pub struct AccountPage {
    pub accounts: Vec<AdminAccountRecord>,
    pub total: i64,
    pub paging: Paging,
}

/// The accounts `query` asks for, oldest first.
pub async fn list_users(
    store: &Store,
    query: &UserQuery,
    now: Timestamp,
) -> Result<AccountPage, AdminError> {
    let paging = Paging::read(query.limit, query.offset, DEFAULT_PAGE, MAX_PAGE)?;
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS) {
        return Err(InvalidField::new(format!(
            "search must be at most {MAX_SEARCH_CHARS} characters"
        ))
        .into());
    }
    let role = query
        .role
        .as_deref()
        .map(|raw| {
            raw.parse::<Role>()
                .map_err(|e| InvalidField::new(e.to_string()))
        })
        .transpose()?;
    let status = query
        .status
        .as_deref()
        .map(|raw| named::<AccountStatus>("status", raw))
        .transpose()?;
    let filter = AccountFilter {
        search,
        role,
        status,
        now,
    };
    let (accounts, total) = store
        .search_accounts(filter, paging.limit, paging.offset)
        .await?;
    Ok(AccountPage {
        accounts,
        total,
        paging,
    })
}

/// One account with its status.
pub async fn user(
    store: &Store,
    id: Uuid,
    now: Timestamp,
) -> Result<AdminAccountRecord, AdminError> {
    store
        .admin_account(id, now)
        .await?
        .ok_or(AdminError::UserNotFound { id })
}

/// An account just disabled, and how many of its sessions that ended.
#[derive(Debug)]
pub struct Disabled {
    pub account: AdminAccountRecord,
    pub sessions_ended: u64,
}

/// Disables account `id`: its sessions end, it cannot sign in, its PATs are refused (this
/// instance's token cache is emptied before the answer; the others' by the change feed).
/// Disabling a disabled account answers as the first time did. Nobody disables themselves, and
/// the last enabled admin stays.
pub async fn disable_user(
    store: &Store,
    tokens: &TokenCache,
    by: Administrator,
    id: Uuid,
    now: Timestamp,
) -> Result<Disabled, AdminError> {
    if by == Administrator::Admin(id) {
        return Err(AdminError::OwnAccount);
    }
    let sessions_ended = match store.disable_account(id, now).await? {
        Disabling::Disabled { sessions_ended } => {
            tokens.invalidate();
            let detail = format!(
                "account disabled {}; {sessions_ended} session(s) ended",
                by.describe()
            );
            record(
                store,
                SecurityEventKind::AccountDisabled,
                id,
                by,
                &detail,
                now,
            )
            .await?;
            tracing::info!(user_id = %id, sessions_ended, "account disabled");
            sessions_ended
        }
        Disabling::AlreadyDisabled => 0,
        Disabling::LastAdmin => return Err(AdminError::LastAdmin),
        Disabling::NoSuchUser => return Err(AdminError::UserNotFound { id }),
    };
    Ok(Disabled {
        account: user(store, id, now).await?,
        sessions_ended,
    })
}

/// Enables account `id` again: it may sign in, and its tokens work again.
pub async fn enable_user(
    store: &Store,
    tokens: &TokenCache,
    by: Administrator,
    id: Uuid,
    now: Timestamp,
) -> Result<AdminAccountRecord, AdminError> {
    let before = user(store, id, now).await?;
    if before.disabled_at.is_none() {
        return Ok(before);
    }
    if !store.enable_account(id).await? {
        return Err(AdminError::UserNotFound { id });
    }
    tokens.invalidate();
    let detail = format!("account enabled {}", by.describe());
    record(
        store,
        SecurityEventKind::AccountEnabled,
        id,
        by,
        &detail,
        now,
    )
    .await?;
    tracing::info!(user_id = %id, "account enabled");
    user(store, id, now).await
}

/// Clears account `id`'s login lock and its count of failed logins.
pub async fn unlock_user(
    store: &Store,
    by: Administrator,
    id: Uuid,
    now: Timestamp,
) -> Result<AdminAccountRecord, AdminError> {
    user(store, id, now).await?;
    let was_locked_until = store
        .clear_login_failures(&account_lock_key(id), now)
        .await?;
    let detail = match was_locked_until {
        Some(until) => format!(
            "login lock (until {}) cleared {}",
            until.to_rfc3339(),
            by.describe()
        ),
        None => format!("failed-login count cleared {}", by.describe()),
    };
    record(
        store,
        SecurityEventKind::AccountUnlocked,
        id,
        by,
        &detail,
        now,
    )
    .await?;
    user(store, id, now).await
}

async fn record(
    store: &Store,
    kind: SecurityEventKind,
    user_id: Uuid,
    by: Administrator,
    detail: &str,
    now: Timestamp,
) -> Result<(), AdminError> {
    let event = SecurityEvent::about_account(kind, user_id, detail, by.actor_id());
    crate::accounts::security_log::record(store, event, now).await?;
    Ok(())
}

const DEFAULT_RESET_MINUTES: i64 = 60;
const RESET_MINUTES: std::ops::RangeInclusive<i64> = 5..=1440;
const DEFAULT_INVITE_MINUTES: i64 = 3 * 1440;
const INVITE_MINUTES: std::ops::RangeInclusive<i64> = 5..=14 * 1440;
/// Random characters of a link's secret: ~190 bits.
const LINK_SECRET_LEN: usize = 32;

/// Where a reset link's page is.
pub const RESET_PAGE: &str = "/reset-password";
/// Where an invitation's page is.
pub const INVITE_PAGE: &str = "/invite";

/// The link to hand out: `{base}{page}?token={secret}`. The secret rides in the query string,
/// which the request log leaves out.
pub fn link_url(base: &str, page: &str, secret: &str) -> String {
    format!("{}{page}?token={secret}", base.trim_end_matches('/'))
}

/// Body of `POST /api/v1/admin/users/{id}/reset-link`; optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetLinkRequest {
    /// 5–1440, default 60.
    pub expires_in_minutes: Option<i64>,
}

/// Body of `POST /api/v1/admin/invites`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// Who is invited; the account gets this email.
    pub email: String,
    /// The role the account gets.
    pub role: String,
    /// 5–20160 (two weeks), default 4320 (three days).
    pub expires_in_minutes: Option<i64>,
}

/// A one-time link's secret (to put in the link, shown once) and its end.
#[derive(Debug)]
pub struct IssuedLink {
    pub secret: String,
    pub expires_at: Timestamp,
}

fn link_lifetime(
    minutes: Option<i64>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<time::Duration, AdminError> {
    let minutes = minutes.unwrap_or(default);
    if !range.contains(&minutes) {
        return Err(InvalidField::new(format!(
            "expires_in_minutes must be between {} and {}",
            range.start(),
            range.end()
        ))
        .into());
    }
    Ok(time::Duration::minutes(minutes))
}

/// Makes a one-time link that sets a new password for account `id` and ends its sessions; a
/// newer link ends this one. For a disabled account it is refused: enable it first.
pub async fn create_reset_link(
    store: &Store,
    by: Administrator,
    id: Uuid,
    request: &ResetLinkRequest,
    now: Timestamp,
) -> Result<IssuedLink, AdminError> {
    let lifetime = link_lifetime(
        request.expires_in_minutes,
        DEFAULT_RESET_MINUTES,
        RESET_MINUTES,
    )?;
    let account = user(store, id, now).await?;
    if account.disabled_at.is_some() {
        return Err(AdminError::Disabled);
    }
    if store
        .find_user(id)
        .await?
        .is_some_and(|found| found.kind != AccountKind::Person)
    {
        return Err(AdminError::NotAPerson);
    }
    let link = issue_link(store, by, NewLinkSubject::Reset(id), now, now + lifetime).await?;
    let detail = format!(
        "password-reset link made {}, valid until {}",
        by.describe(),
        link.expires_at.to_rfc3339()
    );
    record(
        store,
        SecurityEventKind::ResetLinkCreated,
        id,
        by,
        &detail,
        now,
    )
    .await?;
    Ok(link)
}

/// Makes a one-time link that creates an account with `email` and `role`; a newer invitation
/// to the same email ends this one.
pub async fn create_invite(
    store: &Store,
    by: Administrator,
    request: &InviteRequest,
    now: Timestamp,
) -> Result<(IssuedLink, String, Role), AdminError> {
    let email = request.email.trim().to_owned();
    crate::accounts::service::validate_email(&email)
        .map_err(|_| InvalidField::new("email must be a valid email address"))?;
    let role = request
        .role
        .parse::<Role>()
        .map_err(|e| InvalidField::new(e.to_string()))?;
    let lifetime = link_lifetime(
        request.expires_in_minutes,
        DEFAULT_INVITE_MINUTES,
        INVITE_MINUTES,
    )?;
    if store.find_user_by_login(&email).await?.is_some() {
        return Err(AdminError::EmailTaken);
    }
    let link = issue_link(
        store,
        by,
        NewLinkSubject::Invite(&email, role),
        now,
        now + lifetime,
    )
    .await?;
    let detail = format!(
        "invitation for {email} as {role} made {}, valid until {}",
        by.describe(),
        link.expires_at.to_rfc3339()
    );
    let event = SecurityEvent {
        kind: SecurityEventKind::InviteCreated,
        user_id: by.actor_id(),
        session_id: None,
        ip: None,
        detail: Some(&detail),
        actor_id: by.actor_id(),
    };
    crate::accounts::security_log::record(store, event, now).await?;
    Ok((link, email, role))
}

/// What a new link is for.
enum NewLinkSubject<'a> {
    Reset(Uuid),
    Invite(&'a str, Role),
}

async fn issue_link(
    store: &Store,
    by: Administrator,
    subject: NewLinkSubject<'_>,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<IssuedLink, AdminError> {
    let secret = crate::crypto::random_base62(LINK_SECRET_LEN);
    let token_hash = crate::crypto::sha256(&secret);
    let (purpose, user_id, email, role) = match subject {
        NewLinkSubject::Reset(id) => (LinkPurpose::PasswordReset, Some(id), None, None),
        NewLinkSubject::Invite(email, role) => (LinkPurpose::Invite, None, Some(email), Some(role)),
    };
    store
        .insert_account_link(&NewAccountLink {
            token_hash: &token_hash,
            purpose,
            user_id,
            email,
            role,
            created_by: by.actor_id(),
            created_at: now,
            expires_at,
        })
        .await?;
    Ok(IssuedLink { secret, expires_at })
}

const DEFAULT_TOKEN_PAGE: i64 = 50;
const MAX_TOKEN_PAGE: i64 = 500;
const DEFAULT_EVENT_PAGE: i64 = 50;
const MAX_EVENT_PAGE: i64 = 1000;

/// Query of `GET /api/v1/admin/tokens`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The owner: a user id, username or email.
    pub user: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub status: Option<String>,
    /// Only tokens that grant this scope (holding it or a higher level of its resource).
    pub scope: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<i64>,
    /// 0 or more, default 0.
    pub offset: Option<i64>,
}

/// A token with its owner's name, as the inventory lists it.
#[derive(Debug)]
pub struct InventoryToken {
    pub token: crate::tokens::Token,
    pub owner: String,
}

/// A page of the inventory and how many tokens match in all.
#[derive(Debug)]
pub struct TokenPage {
    pub tokens: Vec<InventoryToken>,
    pub total: i64,
    pub paging: Paging,
}

/// The account a `user=` filter names: an id, a username or an email.
async fn named_account(store: &Store, raw: &str) -> Result<Uuid, AdminError> {
    let raw = raw.trim();
    if let Ok(id) = raw.parse::<Uuid>() {
        return Ok(id);
    }
    store
        .find_user_by_login(raw)
        .await?
        .map(|user| user.id)
        .ok_or_else(|| {
            InvalidField::new(format!(
                "user: no account is named \"{}\"",
                crate::input::echo(raw)
            ))
            .into()
        })
}

/// Everyone's tokens (never a secret or its hash), newest first.
pub async fn token_inventory(
    store: &Store,
    query: &TokenQuery,
    now: Timestamp,
) -> Result<TokenPage, AdminError> {
    let paging = Paging::read(
        query.limit,
        query.offset,
        DEFAULT_TOKEN_PAGE,
        MAX_TOKEN_PAGE,
    )?;
    let owner = match query.user.as_deref() {
        Some(raw) => Some(named_account(store, raw).await?),
        None => None,
    };
    let state = query
        .status
        .as_deref()
        .map(|raw| named::<TokenState>("status", raw))
        .transpose()?;
    let scope = query
        .scope
        .as_deref()
        .map(|raw| {
            raw.trim().parse::<Scope>().map_err(|_| {
                InvalidField::new(format!(
                    "scope: unknown scope \"{}\"",
                    crate::input::echo(raw)
                ))
            })
        })
        .transpose()?;
    // The scope hierarchy is the service's, not SQL's: filtered here. An inventory is small
    // (people × a few tokens); the owner and state filters run in the database.
    let mut matching = Vec::new();
    for row in store.token_inventory(owner, state, now).await? {
        let token = crate::tokens::Token::try_from(row.token).map_err(AdminError::Corrupt)?;
        if scope.is_none_or(|scope| token.scopes.granting(scope).is_some()) {
            matching.push(InventoryToken {
                token,
                owner: row.owner,
            });
        }
    }
    let total = matching.len() as i64;
    let tokens = matching
        .into_iter()
        .skip(paging.offset as usize)
        .take(paging.limit as usize)
        .collect();
    Ok(TokenPage {
        tokens,
        total,
        paging,
    })
}

/// Revokes anyone's token at once (this instance's cache before the answer, the others' by the
/// change feed) and records it, naming the admin. Revoking again answers the first time.
pub async fn revoke_any_token(
    store: &Store,
    tokens: &TokenCache,
    by: Administrator,
    id: Uuid,
    now: Timestamp,
) -> Result<Timestamp, AdminError> {
    let (revoked, newly) = crate::tokens::service::revoke(store, None, id, by.into(), now)
        .await?
        .ok_or(AdminError::TokenNotFound { id })?;
    tokens.invalidate();
    let (owner, revoked_at) = (revoked.user_id, revoked.at);
    if newly {
        let detail = format!("token {id} revoked {}", by.describe());
        record(
            store,
            SecurityEventKind::TokenRevokedByAdmin,
            owner,
            by,
            &detail,
            now,
        )
        .await?;
        tracing::info!(token_id = %id, user_id = %owner, "token revoked by an admin");
    }
    Ok(revoked_at)
}

/// Query of the security-event listings.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// The account concerned: a user id, username or email (admins' listing only).
    pub user: Option<String>,
    /// One kind, e.g. `login_failed`, `account_disabled`.
    pub kind: Option<String>,
    /// RFC 3339; events at or after.
    pub since: Option<String>,
    /// RFC 3339; events before.
    pub until: Option<String>,
    /// 1–1000, default 50.
    pub limit: Option<i64>,
    /// 0 or more, default 0.
    pub offset: Option<i64>,
}

/// A page of security events and how many match in all.
#[derive(Debug)]
pub struct EventPage {
    pub events: Vec<SecurityEventRecord>,
    pub total: i64,
    pub paging: Paging,
}

fn instant(name: &str, raw: Option<&str>) -> Result<Option<Timestamp>, AdminError> {
    raw.map(|raw| {
        Timestamp::parse_rfc3339(raw.trim()).ok_or_else(|| {
            InvalidField::new(format!(
                "{name} must be an RFC 3339 time such as 2025-01-15T10:30:00Z"
            ))
            .into()
        })
    })
    .transpose()
}

/// Security events, newest first: everyone's for an admin, or only `own`'s (a person reading
/// their own, where `user=` is not accepted).
pub async fn security_events(
    store: &Store,
    query: &EventQuery,
    own: Option<Uuid>,
) -> Result<EventPage, AdminError> {
    let paging = Paging::read(
        query.limit,
        query.offset,
        DEFAULT_EVENT_PAGE,
        MAX_EVENT_PAGE,
    )?;
    let user_id = match (own, query.user.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(InvalidField::new("user: only admins list other people's events").into())
        }
        (Some(own), None) => Some(own),
        (None, Some(raw)) => Some(named_account(store, raw).await?),
        (None, None) => None,
    };
    let filter = EventFilter {
        user_id,
        kind: query
            .kind
            .as_deref()
            .map(|raw| named::<SecurityEventKind>("kind", raw))
            .transpose()?,
        since: instant("since", query.since.as_deref())?,
        until: instant("until", query.until.as_deref())?,
    };
    let (events, total) = store
        .security_events(filter, paging.limit, paging.offset)
        .await?;
    Ok(EventPage {
        events,
        total,
        paging,
    })
}
