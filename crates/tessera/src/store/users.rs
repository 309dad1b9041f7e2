//! Queries on `users`.

use crate::types::{Role, Timestamp};
use uuid::Uuid;

use super::{on_pool, Store};

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
    /// A person's, or a service account.
    pub kind: AccountKind,
}

crate::types::text_enum! {
    /// Whose account it is.
    pub enum AccountKind("account kind") {
        /// A person, who signs in.
        Person = "person",
        /// A service account: owned by the lab, holds tokens, never signs in.
        Service = "service",
    }
}

/// What login needs: the id and the argon2 PHC string.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserCredentials {
    /// The user's id.
    pub id: Uuid,
    /// The argon2id hash in PHC string form.
    pub password_hash: String,
    /// When an admin disabled the account, if one did.
    pub disabled_at: Option<Timestamp>,
}

crate::types::text_enum! {
    /// How an account was made, recorded so that an operator can find self-registered ones.
    pub enum AccountOrigin("account origin") {
        /// `POST /api/v1/auth/register`.
        Registration = "registration",
        /// `tessera users create`.
        Operator = "operator",
        /// An admin's invitation, accepted.
        Invite = "invite",
        /// A service account (owned by the lab, not a person).
        Service = "service",
    }
}

/// An account as an operator's listing shows it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AccountSummary {
    /// User id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    pub email: String,
    /// Current role.
    pub role: Role,
    /// How the account was made; `None` for accounts made before this was recorded.
    pub created_via: Option<AccountOrigin>,
    /// Creation time.
    pub created_at: Timestamp,
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
    pub role: Role,
    /// How it is being made.
    pub created_via: AccountOrigin,
    /// Creation time.
    pub created_at: Timestamp,
}

impl Store {
    /// Inserts a user. A taken username or email surfaces as a unique violation.
    pub async fn insert_user(&self, user: &NewUser<'_>) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO users (id, username, email, password_hash, role, created_via, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user.id)
        .bind(user.username)
        .bind(user.email)
        .bind(user.password_hash)
        .bind(user.role)
        .bind(user.created_via)
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
            "SELECT id, password_hash, disabled_at FROM users \
             WHERE kind = 'person' AND (lower(username) = lower($1) OR lower(email) = lower($1)) LIMIT 1",
        )
        .bind(login)
        .fetch_optional(pool)
        .await)
    }

    /// Finds a user by id.
    pub async fn find_user(&self, id: Uuid) -> Result<Option<UserRecord>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(
            "SELECT id, username, email, created_at, kind FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)
    }

    /// Finds a user by username or email (for operator commands).
    pub async fn find_user_by_login(&self, login: &str) -> Result<Option<UserRecord>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as::<_, UserRecord>(
            "SELECT id, username, email, created_at, kind FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) LIMIT 1",
        )
        .bind(login)
        .fetch_optional(pool)
        .await)
    }

    /// Every account, oldest first, optionally only those with `role` (for `tessera users list`).
    pub async fn list_accounts(
        &self,
        role: Option<Role>,
    ) -> Result<Vec<AccountSummary>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_as::<_, AccountSummary>(
            "SELECT id, username, email, role, created_via, created_at FROM users \
             WHERE $1 IS NULL OR role = $1 ORDER BY created_at, id",
        )
        .bind(role)
        .fetch_all(pool)
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

/// A user's own record as the profile shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProfileRecord {
    /// User id.
    pub id: Uuid,
    /// Login name.
    pub username: String,
    pub email: String,
    pub role: Role,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
    pub department: Option<String>,
    /// Specialization (e.g. a therapist's discipline).
    pub specialization: Option<String>,
    /// Account creation.
    pub created_at: Timestamp,
    /// Last successful login.
    pub last_login: Option<Timestamp>,
}

/// The editable profile fields; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct ProfileChanges {
    /// Given name.
    pub first_name: Option<Option<String>>,
    /// Family name.
    pub last_name: Option<Option<String>>,
    pub phone_number: Option<Option<String>>,
    pub department: Option<Option<String>>,
    pub specialization: Option<Option<String>>,
}

const PROFILE_COLUMNS: &str = "id, username, email, role, first_name, last_name, phone_number, department, specialization, created_at, last_login";

impl Store {
    /// The profile of user `id`.
    pub async fn profile(&self, id: Uuid) -> Result<Option<ProfileRecord>, sqlx::Error> {
        let sql = format!("SELECT {PROFILE_COLUMNS} FROM users WHERE id = $1");
        on_pool!(self, pool => sqlx::query_as::<_, ProfileRecord>(&sql).bind(id).fetch_optional(pool).await)
    }

    /// Applies `changes` to user `id`'s profile and returns it. A field left `None` keeps its
    /// value (the `$n_set` flags say which fields were given, so NULL can still clear one).
    pub async fn update_profile(
        &self,
        id: Uuid,
        changes: &ProfileChanges,
    ) -> Result<Option<ProfileRecord>, sqlx::Error> {
        let sql = format!(
            "UPDATE users SET \
               first_name = CASE WHEN $2 THEN $3 ELSE first_name END, \
               last_name = CASE WHEN $4 THEN $5 ELSE last_name END, \
               phone_number = CASE WHEN $6 THEN $7 ELSE phone_number END, \
               department = CASE WHEN $8 THEN $9 ELSE department END, \
               specialization = CASE WHEN $10 THEN $11 ELSE specialization END \
             WHERE id = $1 RETURNING {PROFILE_COLUMNS}"
        );
        let fields = [
            &changes.first_name,
            &changes.last_name,
            &changes.phone_number,
            &changes.department,
            &changes.specialization,
        ];
        on_pool!(self, pool => {
            let mut query = sqlx::query_as::<_, ProfileRecord>(&sql).bind(id);
            for field in fields {
                query = query.bind(field.is_some()).bind(field.clone().flatten());
            }
            query.fetch_optional(pool).await
        })
    }

    /// The password hash of user `id`.
    pub async fn password_hash(&self, id: Uuid) -> Result<Option<String>, sqlx::Error> {
        on_pool!(self, pool => sqlx::query_scalar::<_, String>("SELECT password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)
    }

    /// Replaces user `id`'s password hash.
    pub async fn set_password_hash(
        &self,
        id: Uuid,
        password_hash: &str,
    ) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(password_hash)
            .execute(pool)
            .await
            .map(drop))
    }

    /// Gives user `id` `role`, unless that would leave no enabled admin.
    pub async fn change_role(&self, id: Uuid, role: Role) -> Result<RoleChange, sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // A service account's role is changed as a service account (never to admin).
            let previous: Option<Role> =
                sqlx::query_scalar("SELECT role FROM users WHERE id = $1 AND kind = 'person'")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(previous) = previous else {
                return Ok(RoleChange::NoSuchUser);
            };
            // Touching every admin row first serialises concurrent role changes (row locks on
            // PostgreSQL, the write lock on SQLite), so the count below is not stale when two
            // admins demote each other at once.
            sqlx::query("UPDATE users SET role = role WHERE role = 'admin'")
                .execute(&mut *tx)
                .await?;
            let changed = sqlx::query(
                "UPDATE users SET role = $2 WHERE id = $1 AND \
                 ($2 = 'admin' OR role <> 'admin' OR (SELECT count(*) FROM users WHERE role = 'admin' AND kind = 'person' AND disabled_at IS NULL AND id <> $1) > 0)",
            )
            .bind(id)
            .bind(role)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(if changed == 1 {
                RoleChange::Changed { previous }
            } else {
                RoleChange::LastAdmin
            })
        })
    }
}

/// What a role change came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// Done; the role before.
    Changed {
        /// The role before the change.
        previous: Role,
    },
    /// Refused: it would have left no admin.
    LastAdmin,
    /// No user with that id.
    NoSuchUser,
}
