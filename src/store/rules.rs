//! Routing rules edited in the admin panel. Every version is kept (who, when, what); the
//! newest of a department wins over its rule file, and a version without source gives the
//! file back. Each instance sharing the database reads the newest versions when the
//! table's [`RuleEditsVersion`] changes, so all of them route by the same rules.

use super::{Store, StoreError};
use sqlx::Row;

/// The rule file of one department as last edited in the panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEdit {
    /// The department (the file's name without `.toml`).
    pub department: String,
    /// The file's text.
    pub source: String,
    /// Who saved it.
    pub edited_by: String,
    /// When (unix seconds).
    pub edited_at: i64,
}

/// One saved version in a department's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleVersion {
    /// Who saved it.
    pub edited_by: String,
    /// When (unix seconds).
    pub edited_at: i64,
    /// Whether it gave the rule file back instead of a text of its own.
    pub reverted: bool,
}

/// Changes whenever a version is saved, also when one commits after a later one: the
/// number of rows and the highest position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleEditsVersion {
    rows: i64,
    last: i64,
}

impl Store {
    /// Saves a department's rule file as edited (`Some`), or gives the file back (`None`),
    /// and audits it, in one transaction.
    pub async fn save_rule_edit(
        &self,
        department: &str,
        source: Option<&str>,
        edited_by: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO rule_edits (department, source, edited_by, edited_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(department)
        .bind(source)
        .bind(edited_by)
        .bind(super::now())
        .execute(&mut *tx)
        .await?;
        let action = if source.is_some() {
            "rules-edited"
        } else {
            "rules-reverted"
        };
        super::insert_audit(&mut *tx, edited_by, action, None, department).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest edited file of every department whose newest version is not a revert.
    pub async fn current_rule_edits(&self) -> Result<Vec<RuleEdit>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.department, r.source, r.edited_by, r.edited_at FROM rule_edits r \
             WHERE r.id = (SELECT MAX(id) FROM rule_edits WHERE department = r.department) \
               AND r.source IS NOT NULL \
             ORDER BY r.department",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RuleEdit {
                    department: r.try_get(0)?,
                    source: r.try_get(1)?,
                    edited_by: r.try_get(2)?,
                    edited_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// A department's saved versions, newest first, at most `limit`.
    pub async fn rule_history(
        &self,
        department: &str,
        limit: i64,
    ) -> Result<Vec<RuleVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT edited_by, edited_at, CAST(CASE WHEN source IS NULL THEN 1 ELSE 0 END AS BIGINT) \
             FROM rule_edits WHERE department = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(department)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RuleVersion {
                    edited_by: r.try_get(0)?,
                    edited_at: r.try_get(1)?,
                    reverted: r.try_get::<i64, _>(2)? == 1,
                })
            })
            .collect()
    }

    /// What the table holds now, to notice a saved version cheaply.
    pub async fn rule_edits_version(&self) -> Result<RuleEditsVersion, StoreError> {
        let row = sqlx::query("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM rule_edits")
            .fetch_one(self.pool())
            .await?;
        Ok(RuleEditsVersion {
            rows: row.try_get(0)?,
            last: row.try_get(1)?,
        })
    }
}
