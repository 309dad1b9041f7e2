//! Queries on service accounts: the rows of `users` whose `kind` is `service`.

use uuid::Uuid;

use super::{on_pool, AccountOrigin, Store};
use crate::types::{Role, Timestamp};

/// A service account as it is listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ServiceAccountRecord {
    pub id: Uuid,
    /// Its name (unique among all accounts).
    pub name: String,
    pub description: Option<String>,
    /// What its tokens may reach on the case records.
    pub role: Role,
    pub created_at: Timestamp,
    /// Who made it, while that account exists.
    pub created_by: Option<Uuid>,
    pub created_by_username: Option<String>,
    /// Disabled by an admin: its tokens are refused.
    pub disabled_at: Option<Timestamp>,
    /// Live (not revoked, not expired) tokens.
    pub live_tokens: i64,
}

/// A service account to insert.
#[derive(Debug, Clone, Copy)]
pub struct NewServiceAccount<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub role: Role,
    /// An unusable password's hash: the column is required, and nobody knows the password.
    pub password_hash: &'a str,
    pub created_by: Option<Uuid>,
    pub created_at: Timestamp,
}

/// Changes to a service account; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ServiceAccountChanges {
    pub name: Option<String>,
    /// `Some(None)` clears it.
    pub description: Option<Option<String>>,
    pub role: Option<Role>,
}

const SELECT: &str = "SELECT u.id, u.username AS name, u.description, u.role, u.created_at, \
       u.created_by, c.username AS created_by_username, u.disabled_at, \
       (SELECT COUNT(*) FROM personal_access_tokens t \
          WHERE t.user_id = u.id AND t.revoked_at IS NULL AND t.expires_at > $1) AS live_tokens \
     FROM users u LEFT JOIN users c ON c.id = u.created_by \
     WHERE u.kind = 'service' AND u.deleted_at IS NULL";

/// The address stored for a service account: the column is required and unique, and the
/// reserved `.invalid` domain (RFC 2606) can never receive mail.
fn placeholder_email(id: Uuid) -> String {
    format!("{id}@service-account.invalid")
}

impl Store {
    /// Inserts a service account. A taken name surfaces as a unique violation.
    pub async fn insert_service_account(
        &self,
        account: &NewServiceAccount<'_>,
    ) -> Result<(), sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO users (id, username, email, password_hash, role, created_via, created_at, kind, description, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'service', $8, $9)",
        )
        .bind(account.id)
        .bind(account.name)
        .bind(placeholder_email(account.id))
        .bind(account.password_hash)
        .bind(account.role)
        .bind(AccountOrigin::Service)
        .bind(account.created_at)
        .bind(account.description)
        .bind(account.created_by)
        .execute(pool)
        .await
        .map(drop))
    }

    /// Every service account not deleted, by name.
    pub async fn list_service_accounts(
        &self,
        now: Timestamp,
    ) -> Result<Vec<ServiceAccountRecord>, sqlx::Error> {
        let sql = format!("{SELECT} ORDER BY lower(u.username)");
        on_pool!(self, pool => sqlx::query_as::<_, ServiceAccountRecord>(&sql).bind(now).fetch_all(pool).await)
    }

    /// One service account not deleted.
    pub async fn find_service_account(
        &self,
        id: Uuid,
        now: Timestamp,
    ) -> Result<Option<ServiceAccountRecord>, sqlx::Error> {
        let sql = format!("{SELECT} AND u.id = $2");
        on_pool!(self, pool => sqlx::query_as::<_, ServiceAccountRecord>(&sql).bind(now).bind(id).fetch_optional(pool).await)
    }

    /// Applies `changes`; false if there is no such service account. A taken name surfaces as
    /// a unique violation.
    pub async fn update_service_account(
        &self,
        id: Uuid,
        changes: &ServiceAccountChanges,
    ) -> Result<bool, sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(
            "UPDATE users SET \
               username = COALESCE($2, username), \
               description = CASE WHEN $3 THEN $4 ELSE description END, \
               role = COALESCE($5, role) \
             WHERE id = $1 AND kind = 'service' AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(changes.name.as_deref())
        .bind(changes.description.is_some())
        .bind(changes.description.clone().flatten())
        .bind(changes.role)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
    }

    /// Deletes a service account: revokes its tokens and disables it, in one transaction, keeping
    /// the row for its tokens' audit history. Returns how many tokens it revoked, or `None` if
    /// there is no such service account.
    pub async fn delete_service_account(
        &self,
        id: Uuid,
        now: Timestamp,
    ) -> Result<Option<u64>, sqlx::Error> {
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let deleted = sqlx::query(
                "UPDATE users SET deleted_at = $2, disabled_at = COALESCE(disabled_at, $2) \
                 WHERE id = $1 AND kind = 'service' AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if deleted == 0 {
                return Ok(None);
            }
            let revoked = sqlx::query(
                "UPDATE personal_access_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(Some(revoked))
        })
    }
}
