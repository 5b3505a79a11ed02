//! IMAP checkpoints (UIDVALIDITY and the last UID handled, per folder) and the connection
//! state of each mailbox, for logs and the panel.

use super::{now, text, Store, StoreError};
use sqlx::Row;

/// Where reading a folder stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The folder's UIDVALIDITY when the checkpoint was written.
    pub uid_validity: u32,
    /// The highest UID whose case is committed and whose mail is marked.
    pub last_uid: u32,
}

/// A mailbox's connection state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MailboxStatus {
    /// `account/folder`.
    pub mailbox: String,
    /// `connected` or `unreachable`.
    pub state: String,
    /// Last successful fetch, unix seconds.
    pub last_success_at: Option<i64>,
    /// Unreachable since, unix seconds.
    pub failing_since: Option<i64>,
    /// The last error.
    pub last_error: Option<String>,
}

impl Store {
    /// The checkpoint of a folder, if any.
    pub async fn checkpoint(
        &self,
        account: &str,
        folder: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as("SELECT uid_validity, last_uid FROM imap_checkpoints WHERE account = $1 AND folder = $2")
            .bind(account)
            .bind(folder)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(v, u)| Checkpoint {
            uid_validity: v as u32,
            last_uid: u as u32,
        }))
    }

    /// Writes a folder's checkpoint.
    pub async fn save_checkpoint(
        &self,
        account: &str,
        folder: &str,
        checkpoint: Checkpoint,
        lease: Option<&super::Lease>,
    ) -> Result<(), StoreError> {
        // Under a lease, only the current holding moves the checkpoint.
        let (mailbox, holder, fence) = match lease {
            Some(l) => (l.mailbox.as_str(), l.holder.as_str(), l.fence),
            None => ("", "", 0),
        };
        sqlx::query(
            "INSERT INTO imap_checkpoints (account, folder, uid_validity, last_uid, updated_at) \
             SELECT $1, $2, $3, $4, $5 WHERE $6 = 0 OR EXISTS (SELECT 1 FROM mailbox_leases \
             WHERE mailbox = $7 AND holder = $8 AND fence = $9) \
             ON CONFLICT (account, folder) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, \
             updated_at = excluded.updated_at",
        )
        .bind(account)
        .bind(folder)
        .bind(i64::from(checkpoint.uid_validity))
        .bind(i64::from(checkpoint.last_uid))
        .bind(now())
        .bind(fence)
        .bind(mailbox)
        .bind(holder)
        .bind(fence)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a successful fetch.
    pub async fn mailbox_succeeded(&self, mailbox: &str) -> Result<(), StoreError> {
        let at = now();
        sqlx::query(
            "INSERT INTO mailbox_status (mailbox, state, last_success_at, failing_since, last_error, updated_at) \
             VALUES ($1, 'connected', $2, NULL, NULL, $3) ON CONFLICT (mailbox) DO UPDATE SET state = 'connected', \
             last_success_at = excluded.last_success_at, failing_since = NULL, last_error = NULL, updated_at = excluded.updated_at",
        )
        .bind(mailbox)
        .bind(at)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a failure; returns since when the mailbox has been failing.
    pub async fn mailbox_failed(&self, mailbox: &str, error: &str) -> Result<i64, StoreError> {
        let at = now();
        let since: i64 = sqlx::query_scalar(
            "INSERT INTO mailbox_status (mailbox, state, last_success_at, failing_since, last_error, updated_at) \
             VALUES ($1, 'unreachable', NULL, $2, $3, $4) ON CONFLICT (mailbox) DO UPDATE SET state = 'unreachable', \
             failing_since = COALESCE(mailbox_status.failing_since, excluded.failing_since), last_error = excluded.last_error, \
             updated_at = excluded.updated_at RETURNING failing_since",
        )
        .bind(mailbox)
        .bind(at)
        .bind(text(error))
        .bind(at)
        .fetch_one(self.pool())
        .await?;
        Ok(since)
    }

    /// Every mailbox's state.
    pub async fn mailbox_statuses(&self) -> Result<Vec<MailboxStatus>, StoreError> {
        type Row = (String, String, Option<i64>, Option<i64>, Option<String>);
        let rows: Vec<Row> =
            sqlx::query_as("SELECT mailbox, state, last_success_at, failing_since, last_error FROM mailbox_status ORDER BY mailbox")
                .fetch_all(self.pool())
                .await?;
        Ok(rows
            .into_iter()
            .map(
                |(mailbox, state, last_success_at, failing_since, last_error)| MailboxStatus {
                    mailbox,
                    state,
                    last_success_at,
                    failing_since,
                    last_error,
                },
            )
            .collect())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    /// What operations watch: cases waiting for triage and the oldest one's arrival (unix
    /// seconds), and outbox entries per status.
    pub async fn operations_snapshot(&self) -> Result<OperationsSnapshot, StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*), MIN(created_at) FROM cases WHERE status = 'triage'")
                .fetch_one(self.pool())
                .await?;
        let outbox =
            sqlx::query("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status")
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<Vec<(String, i64)>, StoreError>>()?;
        Ok(OperationsSnapshot {
            triage_waiting: row.try_get(0)?,
            oldest_triage_at: row.try_get(1)?,
            outbox,
        })
    }
}

/// What `/metrics` reports from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationsSnapshot {
    /// Cases waiting for a person.
    pub triage_waiting: i64,
    /// When the oldest of them arrived (unix seconds).
    pub oldest_triage_at: Option<i64>,
    /// Outbox entries per status.
    pub outbox: Vec<(String, i64)>,
}
