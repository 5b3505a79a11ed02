//! The outbox table: every mail Brevduva sends, rendered in full when it is enqueued (in the
//! same transaction as its case), with a stable Message-ID, a state and retry bookkeeping.

use super::{Store, StoreError};
use crate::domain::{CaseId, OutboxId, OutboxKind, OutboxStatus};
use sqlx::{Any, Row, Transaction};

/// A mail to enqueue.
#[derive(Debug, Clone)]
pub struct NewOutboxEntry {
    /// The case it is about.
    pub case_id: CaseId,
    /// Forward, acknowledgement or reply.
    pub kind: OutboxKind,
    /// Its Message-ID, without angle brackets; unique.
    pub message_id: String,
    /// The envelope recipient.
    pub recipient: String,
    /// The complete RFC 5322 message.
    pub raw: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A stored outbox entry.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    /// Id.
    pub id: OutboxId,
    /// The case.
    pub case_id: CaseId,
    /// What it is.
    pub kind: OutboxKind,
    /// Message-ID.
    pub message_id: String,
    /// Envelope recipient.
    pub recipient: String,
    /// State.
    pub status: OutboxStatus,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// The complete message.
    pub raw: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
}

pub(super) async fn insert_outbox(
    tx: &mut Transaction<'_, Any>,
    e: &NewOutboxEntry,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (case_id, kind, message_id, recipient, status, attempts, next_attempt_at, raw, created_at) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7) ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(e.case_id.0)
    .bind(e.kind.as_str())
    .bind(&e.message_id)
    .bind(&e.recipient)
    .bind(e.created_at)
    .bind(e.raw.as_slice())
    .bind(e.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<OutboxEntry, StoreError> {
    Ok(OutboxEntry {
        id: OutboxId(row.try_get(0)?),
        case_id: CaseId(row.try_get(1)?),
        kind: OutboxKind::parse(&row.try_get::<String, _>(2)?)
            .ok_or(StoreError::Corrupt("outbox.kind"))?,
        message_id: row.try_get(3)?,
        recipient: row.try_get(4)?,
        status: OutboxStatus::parse(&row.try_get::<String, _>(5)?)
            .ok_or(StoreError::Corrupt("outbox.status"))?,
        attempts: row.try_get(6)?,
        raw: row.try_get(7)?,
        created_at: row.try_get(8)?,
    })
}

const COLUMNS: &str = "id, case_id, kind, message_id, recipient, status, attempts, raw, created_at";

impl Store {
    /// Takes up to `limit` pending entries whose next attempt is due, oldest first, for
    /// sending. On PostgreSQL they are locked (`FOR UPDATE SKIP LOCKED`) in a transaction
    /// that stays open until [`DueOutbox::finish`]: no other instance takes them, entries
    /// another instance is sending are skipped rather than waited for, and if this
    /// instance dies its connection and the locks go with it, so another sends them at
    /// once. SQLite has one instance, and the rows are read plainly.
    pub async fn take_due_outbox(&self, now: i64, limit: i64) -> Result<DueOutbox, StoreError> {
        let (mut tx, lock) = match self.backend() {
            super::Backend::Postgres => {
                (Some(self.pool().begin().await?), " FOR UPDATE SKIP LOCKED")
            }
            super::Backend::Sqlite => (None, ""),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2{lock}"
        );
        let query = sqlx::query(&sql).bind(now).bind(limit);
        let rows = match &mut tx {
            Some(tx) => query.fetch_all(&mut **tx).await?,
            None => query.fetch_all(self.pool()).await?,
        };
        Ok(DueOutbox {
            entries: rows.iter().map(entry_from_row).collect::<Result<_, _>>()?,
            tx,
            store: self.clone(),
        })
    }

    /// Every outbox entry of a case, in order.
    pub async fn outbox_for_case(&self, case: CaseId) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE case_id = $1 ORDER BY id"
        ))
        .bind(case.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Dead letters, newest first, with the server's last answer.
    pub async fn dead_letters(
        &self,
        limit: i64,
    ) -> Result<Vec<(OutboxEntry, Option<String>)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, last_error FROM outbox WHERE status = 'dead' ORDER BY id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((entry_from_row(row)?, row.try_get(9)?)))
            .collect()
    }

    /// Puts dead letters back in the queue (one, or all when `id` is `None`); returns how many.
    pub async fn retry_dead(&self, id: Option<OutboxId>, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, created_at = $2 \
             WHERE status = 'dead' AND ($3 = 0 OR id = $4)",
        )
        .bind(now)
        .bind(now)
        .bind(i64::from(id.is_some()))
        .bind(id.map(|i| i.0).unwrap_or(0))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Discards a dead letter: it stays on record but is never sent. Returns whether
    /// there was such a dead letter.
    pub async fn discard_dead(&self, id: OutboxId, actor: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let case: Option<i64> = sqlx::query_scalar(
            "UPDATE outbox SET status = 'discarded' WHERE status = 'dead' AND id = $1 RETURNING case_id",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(case) = case {
            super::insert_audit(
                &mut *tx,
                actor,
                "outbox-discard",
                Some(CaseId(case)),
                &id.to_string(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(case.is_some())
    }

    /// How many entries wait to be sent.
    pub async fn pending_outbox_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
                .fetch_one(self.pool())
                .await?,
        )
    }
}

/// Outbox entries taken for sending, with what became of them. Dropping it without
/// [`DueOutbox::finish`] records nothing (on PostgreSQL the locks go, and the entries
/// are due again).
pub struct DueOutbox {
    /// The entries, oldest first.
    pub entries: Vec<OutboxEntry>,
    tx: Option<Transaction<'static, Any>>,
    store: Store,
}

impl DueOutbox {
    /// Marks entries delivered, in one statement.
    pub async fn mark_sent(&mut self, ids: &[OutboxId], now: i64) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = ids.iter().map(|id| id.0.to_string()).collect();
        // The ids are integers from the database, so joining them into the statement is safe.
        let sql = format!(
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id IN ({})",
            list.join(",")
        );
        let query = sqlx::query(&sql).bind(now);
        match &mut self.tx {
            Some(tx) => query.execute(&mut **tx).await?,
            None => query.execute(self.store.pool()).await?,
        };
        Ok(())
    }

    /// Records a failed attempt: try again at `retry_at`, or give up (dead letter) when it is `None`.
    pub async fn mark_failed(
        &mut self,
        id: OutboxId,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let (status, next) = match retry_at {
            Some(at) => (OutboxStatus::Pending, at),
            None => (OutboxStatus::Dead, 0),
        };
        let query = sqlx::query(
            "UPDATE outbox SET status = $1, attempts = attempts + 1, last_error = $2, \
             next_attempt_at = CASE WHEN $3 > 0 THEN $4 ELSE next_attempt_at END WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(super::text(error))
        .bind(next)
        .bind(next)
        .bind(id.0);
        match &mut self.tx {
            Some(tx) => query.execute(&mut **tx).await?,
            None => query.execute(self.store.pool()).await?,
        };
        Ok(())
    }

    /// Makes what was recorded durable and lets the entries go.
    pub async fn finish(self) -> Result<(), StoreError> {
        if let Some(tx) = self.tx {
            tx.commit().await?;
        }
        Ok(())
    }
}
