//! Accounts apart from HTTP: who may have an account and how one is made. The API
//! (`routes.rs`), the CLI and the console call these; each says what went wrong with an
//! [`AccountError`].
//!
//! It holds registration, the password rules, signing in (with the brute-force rules of
//! [`super::login_guard`] and the sessions of [`super::sessions`]), the password change, ending a
//! session and the role change. Reading and editing the profile, logging out and listing
//! sessions are single store calls, made by their handlers (`profile.rs`).

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::login_guard::{AttemptEvents, LoginGuard, PasswordAttempt};
use super::password::{HashingError, PasswordHasher};
use super::sessions::{ClientInfo, LoginSessions, TokenPair};
use crate::config::Registration;
use crate::input::InvalidField;
use crate::store::{
    unique_violation, AccountKind, AccountOrigin, EndReason, NewUser, RoleChange, SecurityEvent,
    SecurityEventKind, Store, UserRecord,
};
use crate::types::{Role, Timestamp};

// Also what `tessera users create` builds from its flags. (The doc comment is the schema's
// description in the OpenAPI document.)
/// Registration body.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3–50 characters of `A-Z a-z 0-9 _ . -`.
    pub username: String,
    /// A valid email address.
    pub email: String,
    /// 8–256 characters.
    pub password: String,
}

/// Why an account operation did not happen. The `Display` text is what a person is shown.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A field breaks its rule; the text names it and says what is wrong.
    #[error(transparent)]
    Invalid(#[from] InvalidField),
    /// `REGISTRATION=closed`: only an operator or an admin makes accounts.
    #[error("Registration is closed: ask an administrator for an account")]
    RegistrationClosed,
    /// `REGISTRATION=invite`: an account comes only with an admin's invitation.
    #[error("Registration is by invitation: ask an administrator for an invitation link")]
    RegistrationByInvite,
    /// Another account has this username (compared without case).
    #[error("Username already taken")]
    UsernameTaken,
    /// Another account has this email address.
    #[error("Email already registered")]
    EmailTaken,
    /// Every place below the brute-force thresholds stayed taken by attempts being checked for
    /// `LOGIN_WAIT_SECONDS`: passing; the client should retry.
    #[error("Too many sign-ins for this account or address at once; try again in a moment")]
    TooManyAttempts,
    /// The username or email and password do not match an account that may sign in (the same
    /// answer for an unknown login, a wrong password and a locked one).
    #[error("Invalid credentials")]
    InvalidCredentials,
    /// A one-time link (password reset, invitation) that cannot be used.
    #[error(transparent)]
    Link(#[from] super::links::LinkProblem),
    /// The account was disabled by an admin.
    #[error("Account disabled")]
    AccountDisabled,
    /// The refresh token is unknown, spent, expired or its session ended.
    #[error("Invalid refresh token")]
    InvalidRefreshToken,
    /// The account a session belongs to no longer exists.
    #[error("the account {id} no longer exists")]
    AccountGone {
        /// The missing account.
        id: Uuid,
    },
    /// No running session with this id belongs to the account.
    #[error("Session not found")]
    SessionNotFound {
        /// The id asked for.
        id: Uuid,
    },
    /// Only admins change roles.
    #[error("Only admins may change roles")]
    NotAdmin,
    /// No account with this id.
    #[error("User not found")]
    UserNotFound {
        /// The id asked for.
        id: Uuid,
    },
    /// The change would leave no admin.
    #[error("The last admin cannot be given another role")]
    LastAdmin,
    /// An access token could not be signed.
    #[error("signing an access token failed: {0}")]
    Signing(anyhow::Error),
    /// The password could not be hashed now (a full queue) or at all.
    #[error(transparent)]
    Hashing(#[from] HashingError),
    /// The database failed.
    #[error("the account store failed: {0}")]
    Store(#[from] sqlx::Error),
}

fn invalid<T>(message: impl Into<String>) -> Result<T, AccountError> {
    Err(InvalidField::new(message).into())
}

fn validate_registration(request: &RegisterRequest) -> Result<(), AccountError> {
    validate_username(&request.username)?;
    validate_email(&request.email)?;
    validate_password("password", &request.password)
}

/// Usernames are 3–50 characters of `A-Z a-z 0-9 _ . -`.
pub fn validate_username(username: &str) -> Result<(), AccountError> {
    let username_len = username.chars().count();
    if !(3..=50).contains(&username_len) {
        return invalid("username must be 3 to 50 characters long");
    }
    if !username
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return invalid("username may contain only letters, digits, `_`, `.` and `-`");
    }
    Ok(())
}

/// An email address as registration accepts it.
pub fn validate_email(email: &str) -> Result<(), AccountError> {
    if email.len() > 254 || !email_address::EmailAddress::is_valid(email) {
        return invalid("email must be a valid email address");
    }
    Ok(())
}

/// Passwords are 8–256 characters; `field` names the field in the message.
pub fn validate_password(field: &str, password: &str) -> Result<(), AccountError> {
    if !(8..=256).contains(&password.chars().count()) {
        return invalid(format!("{field} must be 8 to 256 characters long"));
    }
    Ok(())
}

/// Someone signing themselves up, when `registration` allows it. Anyone who can reach sign-up
/// gets an account, so it always has the least privileged role, `member`; staff roles are given
/// by an admin.
pub async fn sign_up(
    store: &Store,
    passwords: &PasswordHasher,
    registration: Registration,
    request: RegisterRequest,
) -> Result<UserRecord, AccountError> {
    match registration {
        Registration::Open => {}
        Registration::Closed => return Err(AccountError::RegistrationClosed),
        Registration::Invite => return Err(AccountError::RegistrationByInvite),
    }
    create_account(
        store,
        passwords,
        request,
        Role::Member,
        AccountOrigin::Registration,
    )
    .await
}

/// Validates and stores a new account with `role`, made as `created_via` says.
pub async fn create_account(
    store: &Store,
    passwords: &PasswordHasher,
    request: RegisterRequest,
    role: Role,
    created_via: AccountOrigin,
) -> Result<UserRecord, AccountError> {
    validate_registration(&request)?;
    let password_hash = passwords.hash(request.password).await?;
    let user = UserRecord {
        id: Uuid::now_v7(),
        username: request.username,
        email: request.email,
        created_at: Timestamp::now(),
        kind: AccountKind::Person,
    };
    let stored = store
        .insert_user(&NewUser {
            id: user.id,
            username: &user.username,
            email: &user.email,
            password_hash: &password_hash,
            role,
            created_via,
            created_at: user.created_at,
        })
        .await;
    if let Some(clashed) = stored.as_ref().err().and_then(unique_violation) {
        return Err(if clashed.contains("email") {
            AccountError::EmailTaken
        } else {
            AccountError::UsernameTaken
        });
    }
    stored?;
    tracing::info!(user_id = %user.id, "account registered");
    Ok(user)
}

/// A login's events.
const LOGIN_EVENTS: AttemptEvents = (
    SecurityEventKind::LoginFailed,
    SecurityEventKind::LoginRefusedLocked,
);

/// Signs someone in with a username (or email) and password, under the brute-force rules: a
/// new session and its first token pair, or [`AccountError::InvalidCredentials`] alike for an
/// unknown login, a wrong password and a locked account or address.
pub async fn sign_in(
    store: &Store,
    guard: &LoginGuard,
    sessions: &LoginSessions,
    login: &str,
    password: String,
    client: &ClientInfo,
) -> Result<TokenPair, AccountError> {
    let login = login.trim().to_lowercase();
    let credentials = store.find_credentials(&login).await?;
    let user_id = credentials.as_ref().map(|c| c.id);
    let credentials_of = credentials.as_ref().map(|c| (c.id, c.disabled_at));
    let attempt = PasswordAttempt {
        login: &login,
        ip: &client.key.to_string(),
        user_id,
        events: LOGIN_EVENTS,
    };
    let check = guard
        .check(&attempt, password, credentials.map(|c| c.password_hash))
        .await?;
    match (check.matched, credentials_of) {
        // Said only to whoever knows the password, so it reveals nothing to a guesser.
        (true, Some((_, Some(_)))) => Err(AccountError::AccountDisabled),
        (true, Some((user_id, None))) => sessions.start(user_id, client).await,
        _ => Err(AccountError::InvalidCredentials),
    }
}

/// Who is acting: an account, in one of its sessions, with its role now.
pub struct Actor {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
}

/// Changes the actor's password and ends every other session of theirs; returns how many. The
/// current password is checked under the brute-force rules like a login, so a stolen access
/// token is no faster way to find the password than the login form.
pub async fn change_password(
    store: &Store,
    guard: &LoginGuard,
    passwords: &PasswordHasher,
    actor: &Actor,
    current: String,
    new: String,
    client: &ClientInfo,
) -> Result<u64, AccountError> {
    validate_password("new_password", &new)?;
    if new == current {
        return invalid("new_password must differ from current_password");
    }
    let id = actor.user_id;
    let stored = store
        .password_hash(id)
        .await?
        .ok_or(AccountError::AccountGone { id })?;
    let attempt = PasswordAttempt {
        // The account counter goes by the account's id (`user_id` below), not by a login.
        login: "",
        ip: &client.key.to_string(),
        user_id: Some(id),
        events: (
            SecurityEventKind::PasswordChangeFailed,
            SecurityEventKind::PasswordChangeRefusedLocked,
        ),
    };
    if !guard.check(&attempt, current, Some(stored)).await?.matched {
        return invalid("current_password is not correct");
    }
    let hash = passwords.hash(new).await?;
    store.set_password_hash(id, &hash).await?;
    let now = Timestamp::now();
    let kept = Some(actor.session_id);
    let ended = store
        .end_sessions(id, kept, EndReason::PasswordChanged, now)
        .await?;
    let event = SecurityEvent {
        kind: SecurityEventKind::PasswordChanged,
        user_id: Some(id),
        session_id: Some(actor.session_id),
        ip: None,
        detail: Some("password changed; other sessions ended"),
        actor_id: None,
    };
    crate::accounts::security_log::record(store, event, now).await?;
    Ok(ended)
}

/// Signs a person out of the session they act in (API logout, the console's "Sign out"): its
/// refresh token and every access token of it stop working. Ending an already ended session is
/// no error.
pub async fn sign_out(store: &Store, user_id: Uuid, session_id: Uuid) -> Result<(), AccountError> {
    store
        .end_session(user_id, session_id, EndReason::Logout, Timestamp::now())
        .await?;
    Ok(())
}

/// Ends one of the account's running sessions (another account's id is not found).
pub async fn end_session(store: &Store, user_id: Uuid, id: Uuid) -> Result<(), AccountError> {
    let now = Timestamp::now();
    if !store
        .end_session(user_id, id, EndReason::Ended, now)
        .await?
    {
        return Err(AccountError::SessionNotFound { id });
    }
    Ok(())
}

/// Gives the account `target` the role named `role` (admins only; the last admin keeps theirs).
/// Returns the role before. Tokens the new role may no longer hold are reported in the log;
/// they stop reaching beyond the role at once, as every request checks the role now.
pub async fn change_role(
    store: &Store,
    actor: &Actor,
    target: Uuid,
    role: &str,
) -> Result<(Role, Role), AccountError> {
    if actor.role != Role::Admin {
        return Err(AccountError::NotAdmin);
    }
    let role: Role = role
        .parse()
        .map_err(|e: crate::types::UnknownRole| InvalidField::new(e.to_string()))?;
    let previous = match store.change_role(target, role).await? {
        RoleChange::Changed { previous } => previous,
        RoleChange::LastAdmin => return Err(AccountError::LastAdmin),
        RoleChange::NoSuchUser => return Err(AccountError::UserNotFound { id: target }),
    };
    let detail = format!(
        "role changed from {previous} to {role} by {}",
        actor.user_id
    );
    let event = SecurityEvent {
        kind: SecurityEventKind::RoleChanged,
        user_id: Some(target),
        session_id: None,
        ip: None,
        detail: Some(&detail),
        actor_id: Some(actor.user_id),
    };
    crate::accounts::security_log::record(store, event, Timestamp::now()).await?;
    // The role has changed already: failing to list the tokens it leaves over-privileged must
    // not turn the answer into a failure (`tessera tokens list --over-privileged` finds them too).
    if let Err(error) = crate::tokens::ceiling::warn_of_tokens_beyond_role(store, target).await {
        tracing::error!(error = format!("{error:#}"), user_id = %target, "reviewing the user's tokens after a role change failed");
    }
    Ok((role, previous))
}
