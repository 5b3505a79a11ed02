//! The intake batch: the mails of one fetch are checked for duplicates and threads and
//! recorded (case, message, decision, outbox entries) in one transaction, so a crash leaves
//! either the whole batch or none of it, and the database sees one commit per batch
//! instead of one per mail.
//!
//! On SQLite the batch takes the write lock when it begins (`BEGIN IMMEDIATE`), so its
//! reads and writes see one state and no other writer can slip in between them.

use super::cases::{
    insert_decision, insert_message, swedish_year, thread_from_row, NewCase, NewDecision,
    NewMessage, ThreadMatch, THREAD_COLUMNS,
};
use super::outbox::{insert_outbox, NewOutboxEntry};
use super::{now, text, Backend, Store, StoreError};
use crate::domain::{CaseId, CaseNumber};
use sqlx::{Any, Transaction};

/// One open intake transaction. Dropped without [`IntakeBatch::commit`], it writes nothing.
pub struct IntakeBatch {
    tx: Transaction<'static, Any>,
    backend: Backend,
}

impl Store {
    /// Opens an intake batch.
    pub async fn begin_intake(&self) -> Result<IntakeBatch, StoreError> {
        let tx = match self.backend() {
            Backend::Sqlite => self.pool().begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool().begin().await?,
        };
        Ok(IntakeBatch {
            tx,
            backend: self.backend(),
        })
    }
}

impl IntakeBatch {
    /// Checks that a mailbox lease is still this holding's; on PostgreSQL nobody can take
    /// the mailbox over until the batch ends. A batch whose lease is gone must not commit.
    pub async fn hold_lease(&mut self, lease: &super::Lease) -> Result<bool, StoreError> {
        super::cluster::hold_lease(&mut self.tx, self.backend, lease).await
    }

    /// Makes everything recorded in the batch durable.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Whether a message with this dedupe key is stored (earlier in this batch included).
    pub async fn message_exists(&mut self, dedupe_key: &str) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM messages WHERE dedupe_key = $1")
                .bind(text(dedupe_key))
                .fetch_optional(&mut *self.tx)
                .await?;
        Ok(found.is_some())
    }

    /// Finds the case a message continues: by a case number in its subject, or by a
    /// Message-ID it answers (ours, in the outbox, or one of the case's own messages).
    pub async fn find_thread(
        &mut self,
        number: Option<CaseNumber>,
        ids: &[String],
    ) -> Result<Option<ThreadMatch>, StoreError> {
        if let Some(number) = number {
            let row = sqlx::query(&format!(
                "SELECT {THREAD_COLUMNS} FROM cases c WHERE c.number = $1"
            ))
            .bind(number.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
            if let Some(row) = row {
                return thread_from_row(&row).map(Some);
            }
        }
        for id in ids.iter().rev() {
            let row = sqlx::query(&format!(
                "SELECT {THREAD_COLUMNS} FROM cases c WHERE c.id = \
                 (SELECT case_id FROM messages WHERE message_id = $1 \
                  UNION SELECT case_id FROM outbox WHERE message_id = $2 LIMIT 1)"
            ))
            .bind(text(id))
            .bind(text(id))
            .fetch_optional(&mut *self.tx)
            .await?;
            if let Some(row) = row {
                return thread_from_row(&row).map(Some);
            }
        }
        Ok(None)
    }

    /// How many acknowledgements went to an address since a moment (loop protection).
    pub async fn acknowledgements_since(
        &mut self,
        recipient: &str,
        since: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND kind = 'acknowledgement' AND created_at >= $2",
        )
        .bind(recipient)
        .bind(since)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Stores a message that could not be parsed. Returns false when the same bytes were
    /// already quarantined.
    pub async fn quarantine(
        &mut self,
        content_hash: &str,
        source: &str,
        reason: &str,
        raw: &[u8],
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO quarantine (content_hash, source, reason, raw, received_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (content_hash) DO NOTHING",
        )
        .bind(content_hash)
        .bind(source)
        .bind(reason)
        .bind(raw)
        .bind(now())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records an action in the audit log, with the batch.
    pub async fn audit(
        &mut self,
        actor: &str,
        action: &str,
        case: Option<CaseId>,
        detail: &str,
    ) -> Result<(), StoreError> {
        super::insert_audit(&mut *self.tx, actor, action, case, detail).await
    }

    /// Records a new case with its first message and decision, and the outbox entries that
    /// `compose` builds once the case number is known. Returns `None` when the message
    /// turned out to be stored already (a concurrent writer on PostgreSQL); then the case
    /// and its number are taken back and nothing of it stays.
    pub async fn record_new_case<F>(
        &mut self,
        case: NewCase,
        message: NewMessage,
        decision: NewDecision,
        compose: F,
    ) -> Result<Option<(CaseId, CaseNumber)>, StoreError>
    where
        F: FnOnce(CaseId, CaseNumber) -> Vec<NewOutboxEntry>,
    {
        let year = i64::from(swedish_year(case.created_at));
        let serial: i64 = sqlx::query_scalar(
            "INSERT INTO case_number_counters (year, last_serial) VALUES ($1, 1) \
             ON CONFLICT (year) DO UPDATE SET last_serial = case_number_counters.last_serial + 1 \
             RETURNING last_serial",
        )
        .bind(year)
        .fetch_one(&mut *self.tx)
        .await?;
        let number = CaseNumber::new(
            year as u16,
            u32::try_from(serial).map_err(|_| StoreError::Corrupt("case_number_counters"))?,
        );
        let case_id: i64 = sqlx::query_scalar(
            "INSERT INTO cases (number, status, department_id, language, channel, urgent, sensitive, \
             auto_reply, bulk, citizen_address, subject, confidence, created_at, updated_at, campaign, reply_due) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
        )
        .bind(number.to_string())
        .bind(case.status.as_str())
        .bind(case.department.as_deref())
        .bind(&case.language)
        .bind(case.channel.as_str())
        .bind(i64::from(case.flags.urgent))
        .bind(i64::from(case.flags.sensitive))
        .bind(i64::from(case.flags.auto_reply))
        .bind(i64::from(case.flags.bulk))
        .bind(case.citizen_address.as_deref())
        .bind(text(&case.subject))
        .bind(case.confidence)
        .bind(case.created_at)
        .bind(case.created_at)
        .bind(case.campaign.as_deref())
        .bind(case.reply_due.as_deref())
        .fetch_one(&mut *self.tx)
        .await?;
        let case_id = CaseId(case_id);
        if !insert_message(&mut self.tx, case_id, &message).await? {
            // Undo the case and give its number back; the batch still holds the counter row.
            sqlx::query("DELETE FROM cases WHERE id = $1")
                .bind(case_id.0)
                .execute(&mut *self.tx)
                .await?;
            sqlx::query(
                "UPDATE case_number_counters SET last_serial = last_serial - 1 \
                 WHERE year = $1 AND last_serial = $2",
            )
            .bind(year)
            .bind(serial)
            .execute(&mut *self.tx)
            .await?;
            return Ok(None);
        }
        insert_decision(&mut self.tx, case_id, &decision, case.created_at).await?;
        for entry in compose(case_id, number) {
            insert_outbox(&mut self.tx, &entry).await?;
        }
        Ok(Some((case_id, number)))
    }

    /// Adds a message to an existing case, with any outbox entries. Returns false when the
    /// message was stored already.
    pub async fn record_joined_message(
        &mut self,
        case_id: CaseId,
        message: NewMessage,
        outbox: Vec<NewOutboxEntry>,
    ) -> Result<bool, StoreError> {
        if !insert_message(&mut self.tx, case_id, &message).await? {
            return Ok(false);
        }
        for entry in &outbox {
            insert_outbox(&mut self.tx, entry).await?;
        }
        sqlx::query("UPDATE cases SET updated_at = $1 WHERE id = $2")
            .bind(message.received_at)
            .bind(case_id.0)
            .execute(&mut *self.tx)
            .await?;
        Ok(true)
    }
}
