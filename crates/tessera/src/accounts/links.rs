//! Spending the one-time links an admin hands out (`admin::service` makes them): a password
//! reset, which sets a new password and ends every session of the account, and an invitation,
//! which creates an account with the email and role the admin chose and a username and password
//! the invitee chooses.
//!
//! A link is `…?token=<secret>`; only the secret's SHA-256 is stored. It works once, until it
//! expires, and not after a newer link for the same account or email. Every refusal says which
//! of these it is, so the person knows whether to retry or to ask for a new link. The query
//! string, unlike the path, is not written to the request log.

use uuid::Uuid;

use super::password::PasswordHasher;
use super::service::{validate_password, validate_username, AccountError};
use crate::crypto::sha256;
use crate::store::{
    unique_violation, AccountLinkRecord, InvitedUser, LinkPurpose, Redemption, SecurityEvent,
    SecurityEventKind, Store,
};
use crate::types::{Role, Timestamp};

/// Why a link cannot be used. The `Display` text is what the person is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkProblem {
    #[error(
        "This link is not valid: check that it was copied whole, or ask an admin for a new one"
    )]
    Unknown,
    #[error("This link has already been used; ask an admin for a new one")]
    Used,
    /// Ended by a newer link, or by disabling the account.
    #[error("This link was replaced by a newer one or withdrawn; use the newest link you were given, or ask an admin")]
    Replaced,
    #[error("This link has expired; ask an admin for a new one")]
    Expired,
}

/// The link `secret` opens, if it may be used now for `purpose`.
pub async fn usable_link(
    store: &Store,
    secret: &str,
    purpose: LinkPurpose,
    now: Timestamp,
) -> Result<AccountLinkRecord, AccountError> {
    let link = store
        .account_link(&sha256(secret))
        .await?
        .filter(|link| link.purpose == purpose)
        .ok_or(LinkProblem::Unknown)?;
    let problem = if link.used_at.is_some() {
        LinkProblem::Used
    } else if link.ended_at.is_some() {
        LinkProblem::Replaced
    } else if link.expires_at <= now {
        LinkProblem::Expired
    } else {
        return Ok(link);
    };
    Err(problem.into())
}

/// The reason a spend found nothing: the link changed state since it was read.
async fn refusal(
    store: &Store,
    secret: &str,
    purpose: LinkPurpose,
    now: Timestamp,
) -> AccountError {
    match usable_link(store, secret, purpose, now).await {
        Err(error) => error,
        // Usable after all (a clock at the boundary): say it expired rather than loop.
        Ok(_) => LinkProblem::Expired.into(),
    }
}

/// Sets a new password with a reset link and ends every session of the account; returns the
/// account. The login lock is cleared too: whoever holds the link is the account's owner.
pub async fn reset_password(
    store: &Store,
    passwords: &PasswordHasher,
    secret: &str,
    password: String,
    now: Timestamp,
) -> Result<Uuid, AccountError> {
    validate_password("password", &password)?;
    usable_link(store, secret, LinkPurpose::PasswordReset, now).await?;
    let password_hash = passwords.hash(password).await?;
    let (user_id, sessions_ended) = match store
        .redeem_reset_link(&sha256(secret), &password_hash, now)
        .await?
    {
        Redemption::Done(done) => done,
        Redemption::NotUsable => {
            return Err(refusal(store, secret, LinkPurpose::PasswordReset, now).await)
        }
    };
    store
        .clear_login_failures(&super::login_guard::account_lock_key(user_id), now)
        .await?;
    let detail = format!("password set with a reset link; {sessions_ended} session(s) ended");
    record(
        store,
        SecurityEventKind::PasswordReset,
        user_id,
        &detail,
        now,
    )
    .await?;
    tracing::info!(user_id = %user_id, sessions_ended, "password reset with a link");
    Ok(user_id)
}

/// An account made by accepting an invitation.
#[derive(Debug)]
pub struct Invited {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub role: Role,
}

/// Creates the invited account: the invitation's email and role, the chosen username and
/// password. A taken username leaves the invitation usable for another try.
pub async fn accept_invite(
    store: &Store,
    passwords: &PasswordHasher,
    secret: &str,
    username: String,
    password: String,
    now: Timestamp,
) -> Result<Invited, AccountError> {
    let username = username.trim().to_owned();
    validate_username(&username)?;
    validate_password("password", &password)?;
    usable_link(store, secret, LinkPurpose::Invite, now).await?;
    let password_hash = passwords.hash(password).await?;
    let id = Uuid::now_v7();
    let redeemed = store
        .redeem_invite(
            &sha256(secret),
            &InvitedUser {
                id,
                username: &username,
                password_hash: &password_hash,
                created_at: now,
            },
        )
        .await;
    let (email, role) = match redeemed {
        Ok(Redemption::Done(done)) => done,
        Ok(Redemption::NotUsable) => {
            return Err(refusal(store, secret, LinkPurpose::Invite, now).await)
        }
        Err(error) => {
            return Err(match unique_violation(&error) {
                Some(constraint) if constraint.contains("email") => AccountError::EmailTaken,
                Some(_) => AccountError::UsernameTaken,
                None => error.into(),
            })
        }
    };
    let detail = format!("account created by invitation with role {role}");
    record(store, SecurityEventKind::InviteAccepted, id, &detail, now).await?;
    tracing::info!(user_id = %id, %role, "invitation accepted");
    Ok(Invited {
        id,
        username,
        email,
        role,
    })
}

async fn record(
    store: &Store,
    kind: SecurityEventKind,
    user_id: Uuid,
    detail: &str,
    now: Timestamp,
) -> Result<(), AccountError> {
    let event = SecurityEvent::about_account(kind, user_id, detail, None);
    crate::accounts::security_log::record(store, event, now).await?;
    Ok(())
}
