//! Queries on `users`.

use uuid::Uuid;

use super::{on_pool, Store, Timestamp};
use crate::accounts::Role;

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    /// Stable id (UUIDv7).
    pub id: Uuid,
    /// Login name as the user typed it at registration.
    pub username: String,
    /// Email address as given at registration.
    pub email: String,
    /// When the account was created.
    pub created_at: Timestamp,
}

/// What login needs: the id and the argon2 PHC string.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserCredentials {
    /// The user's id.
    pub id: Uuid,
    /// The argon2id hash in PHC string form.
    pub password_hash: String,
}

/// A user to insert; the password is already hashed.
pub struct NewUser<'a> {
    /// New id.
    pub id: Uuid,
    /// Validated username.
    pub username: &'a str,
    /// Validated email.
    pub email: &'a str,
    /// argon2id PHC string.
    pub password_hash: &'a str,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: Timestamp,
}

impl Store {
    /// Inserts a user. A taken username or email surfaces as a unique violation.
    pub async fn insert_user(&self, user: &NewUser<'_>) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO users (id, username, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.id)
        .bind(user.username)
        .bind(user.email)
        .bind(user.password_hash)
        .bind(user.role)
        .bind(user.created_at)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Finds the credentials of the user whose username or email is `login`, case-insensitively.
    pub async fn find_credentials(
        &self,
        login: &str,
    ) -> Result<Option<UserCredentials>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as::<_, UserCredentials>(
            "SELECT id, password_hash FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1",
        )
        .bind(login)
        .fetch_optional(pool)
        .await)
    }

    /// Finds a user by id.
    pub async fn find_user(&self, id: Uuid) -> Result<Option<UserRecord>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(
            "SELECT id, username, email, created_at FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)
    }

    /// Finds a user by username or email (for operator commands).
    pub async fn find_user_by_login(&self, login: &str) -> Result<Option<UserRecord>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(
            "SELECT id, username, email, created_at FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1",
        )
        .bind(login)
        .fetch_optional(pool)
        .await)
    }

    /// The current role of user `id`, if the user exists.
    pub async fn user_role(&self, id: Uuid) -> Result<Option<Role>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_scalar::<_, Role>("SELECT role FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)
    }
}
