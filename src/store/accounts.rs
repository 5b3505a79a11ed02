//! People's accounts and their sessions. Passwords arrive here already hashed (argon2id);
//! sessions are kept as a hash of their token, so the database alone opens none.

use super::{now, Store, StoreError};
use crate::domain::{Role, StaffMember, UserId};
use sqlx::Row;

/// An account about to be created.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Log-in name.
    pub username: String,
    /// Name shown in the panel.
    pub display_name: String,
    /// What they do.
    pub role: Role,
    /// Departments, for department staff.
    pub departments: Vec<String>,
    /// The argon2id hash (PHC string).
    pub password_hash: String,
}

/// An account as the log-in needs it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The person.
    pub member: StaffMember,
    /// The argon2id hash (PHC string).
    pub password_hash: String,
    /// Failed log-ins in a row.
    pub failed_logins: i64,
    /// Locked until this moment (unix seconds) after too many failures.
    pub locked_until: Option<i64>,
    /// Switched off by an admin.
    pub disabled: bool,
}

/// A session found by its token.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// Who.
    pub member: StaffMember,
    /// The token forms must carry.
    pub csrf_token: String,
    /// When it was last used (unix seconds).
    pub last_seen: i64,
}

const MEMBER_COLUMNS: &str = "u.id, u.username, u.display_name, u.role, u.departments";

fn member_from_row(row: &sqlx::any::AnyRow) -> Result<StaffMember, StoreError> {
    let departments: String = row.try_get(4)?;
    Ok(StaffMember {
        id: UserId(row.try_get(0)?),
        username: row.try_get(1)?,
        display_name: row.try_get(2)?,
        role: Role::parse(&row.try_get::<String, _>(3)?)
            .ok_or(StoreError::Corrupt("users.role"))?,
        departments: departments
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

impl Store {
    /// Creates an account; `None` when the name is taken.
    pub async fn create_user(&self, user: &NewUser) -> Result<Option<UserId>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (username, display_name, role, departments, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING RETURNING id",
        )
        .bind(&user.username)
        .bind(&user.display_name)
        .bind(user.role.as_str())
        .bind(user.departments.join(","))
        .bind(&user.password_hash)
        .bind(now())
        .fetch_optional(self.pool())
        .await?;
        if id.is_some() {
            self.audit(&user.username, "user-created", None, user.role.as_str())
                .await?;
        }
        Ok(id.map(UserId))
    }

    /// Replaces an account's password and ends its sessions.
    pub async fn set_password(&self, username: &str, hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET password_hash = $1, failed_logins = 0, locked_until = NULL \
             WHERE username = $2 RETURNING id",
        )
        .bind(hash)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            super::insert_audit(&mut *tx, username, "password-set", None, "").await?;
        }
        tx.commit().await?;
        Ok(id.is_some())
    }

    /// The account with this log-in name.
    pub async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS}, u.password_hash, u.failed_logins, u.locked_until, u.disabled \
             FROM users u WHERE u.username = $1"
        ))
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(Account {
                member: member_from_row(&row)?,
                password_hash: row.try_get(5)?,
                failed_logins: row.try_get(6)?,
                locked_until: row.try_get(7)?,
                disabled: row.try_get::<i64, _>(8)? != 0,
            })
        })
        .transpose()
    }

    /// Every account, by name.
    pub async fn users(&self) -> Result<Vec<StaffMember>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM users u ORDER BY u.username"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(member_from_row).collect()
    }

    /// Counts a failed log-in; after `lock_after` in a row the account is locked for
    /// `lock_seconds`. Returns whether it is locked now.
    pub async fn login_failed(
        &self,
        user: UserId,
        lock_after: i64,
        lock_seconds: i64,
    ) -> Result<bool, StoreError> {
        let at = now();
        let failed: i64 = sqlx::query_scalar(
            "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
        )
        .bind(user.0)
        .fetch_one(self.pool())
        .await?;
        let locked = failed >= lock_after;
        if locked {
            sqlx::query("UPDATE users SET locked_until = $1, failed_logins = 0 WHERE id = $2")
                .bind(at + lock_seconds)
                .bind(user.0)
                .execute(self.pool())
                .await?;
        }
        Ok(locked)
    }

    /// Opens a session after a good log-in.
    pub async fn open_session(
        &self,
        user: UserId,
        token_hash: &str,
        csrf_token: &str,
        lifetime_seconds: i64,
    ) -> Result<(), StoreError> {
        let at = now();
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen, expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(csrf_token)
        .bind(at)
        .bind(at + lifetime_seconds)
        .execute(&mut *tx)
        .await?;
        // Expired sessions of anyone go when someone logs in.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session with this token hash, of an account that is not disabled.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS}, s.csrf_token, s.last_seen FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0"
        ))
        .bind(token_hash)
        .bind(now())
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(SessionRecord {
                member: member_from_row(&row)?,
                csrf_token: row.try_get(5)?,
                last_seen: row.try_get(6)?,
            })
        })
        .transpose()
    }

    /// Marks a session as used now and moves its end `idle_seconds` ahead.
    pub async fn touch_session(
        &self,
        token_hash: &str,
        idle_seconds: i64,
    ) -> Result<(), StoreError> {
        let at = now();
        sqlx::query("UPDATE sessions SET last_seen = $1, expires_at = $2 WHERE token_hash = $3")
            .bind(at)
            .bind(at + idle_seconds)
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends one session.
    pub async fn close_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of a person ("log out everywhere"); returns how many.
    pub async fn close_all_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.0)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
