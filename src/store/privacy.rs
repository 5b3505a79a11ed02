//! Carrying out retention and erasure, legal holds, finding a person's cases, and keeping
//! the audit log to its configured age.

use super::{insert_audit, now, Store, StoreError};
use crate::domain::CaseId;
use crate::privacy::retention::RetentionCase;
use sqlx::{Any, Row, Transaction};

impl Store {
    /// Every case retention may still act on (not anonymised, not on legal hold).
    pub async fn retention_cases(&self) -> Result<Vec<RetentionCase>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, number, department_id, channel, auto_reply + bulk, updated_at, legal_hold, registered, \
             CASE WHEN content_removed_at IS NULL THEN 0 ELSE 1 END \
             FROM cases WHERE anonymised_at IS NULL AND legal_hold = 0 ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RetentionCase {
                    id: r.try_get(0)?,
                    number: r.try_get(1)?,
                    department: r.try_get(2)?,
                    channel: r.try_get(3)?,
                    automatic: r.try_get::<i64, _>(4)? > 0,
                    last_activity: r.try_get(5)?,
                    legal_hold: r.try_get::<i64, _>(6)? != 0,
                    registered: r.try_get::<i64, _>(7)? != 0,
                    content_removed: r.try_get::<i64, _>(8)? != 0,
                    anonymised: false,
                })
            })
            .collect()
    }

    /// Removes a case's message bodies and attachments, its notes and its outgoing mail
    /// (mail still waiting is discarded), and the words of its routing explanations.
    pub async fn remove_case_content(
        &self,
        case: CaseId,
        actor: &str,
        why: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        remove_content(&mut tx, case).await?;
        insert_audit(&mut *tx, actor, "content-removed", Some(case), why).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a case's content and its personal data: addresses, subjects, what it taught
    /// the knowledge base automatically (for an `erasure`, also answers written from it),
    /// its chat questions. A case registered as allmän
    /// handling keeps the registry's metadata (subject and sender).
    pub async fn anonymise_case(
        &self,
        case: CaseId,
        keep_registry_metadata: bool,
        erasure: bool,
        actor: &str,
        why: &str,
    ) -> Result<(), StoreError> {
        let at = now();
        let mut tx = self.pool().begin().await?;
        remove_content(&mut tx, case).await?;
        if !keep_registry_metadata {
            sqlx::query("UPDATE cases SET citizen_address = NULL, subject = '' WHERE id = $1")
                .bind(case.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE messages SET from_address = NULL, subject = '' WHERE case_id = $1")
                .bind(case.0)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE outbox SET recipient = '' WHERE case_id = $1 AND kind IN ('acknowledgement', 'reply')",
        )
        .bind(case.0)
        .execute(&mut *tx)
        .await?;
        let number: String = sqlx::query_scalar("SELECT number FROM cases WHERE id = $1")
            .bind(case.0)
            .fetch_one(&mut *tx)
            .await?;
        // What the case taught automatically goes. An answer people wrote from it and
        // approved stays through retention, but not through a person's erasure.
        let emptied = sqlx::query(
            "UPDATE knowledge_entries SET subject = '', text = '', answer = '', retired = 1, edited_at = $1 \
             WHERE id = $2 AND (origin = 'staff' OR approved = 0 OR $3 = 1)",
        )
        .bind(at)
        .bind(&number)
        .bind(i64::from(erasure))
        .execute(&mut *tx)
        .await?;
        if emptied.rows_affected() > 0 {
            super::cluster::log_knowledge_changes(&mut tx, self.backend(), &[&number]).await?;
        }
        sqlx::query("UPDATE chat_questions SET question = NULL, conversation_id = NULL WHERE case_number = $1")
            .bind(&number)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE cases SET anonymised_at = $1 WHERE id = $2")
            .bind(at)
            .bind(case.0)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut *tx, actor, "anonymised", Some(case), why).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts a legal hold on a case (retention and erasure leave it alone) or lifts it.
    pub async fn set_legal_hold(
        &self,
        case: CaseId,
        on: bool,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE cases SET legal_hold = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(case.0)
            .execute(&mut *tx)
            .await?;
        insert_audit(
            &mut *tx,
            actor,
            if on {
                "legal-hold"
            } else {
                "legal-hold-lifted"
            },
            Some(case),
            "",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The cases that hold anything of a person: sent by them, about their address, or
    /// with mail to them; oldest first.
    pub async fn cases_of_person(&self, address: &str) -> Result<Vec<PersonCase>, StoreError> {
        let address = address.trim().to_lowercase();
        let rows = sqlx::query(
            "SELECT c.id, c.number, c.legal_hold, c.registered FROM cases c WHERE LOWER(COALESCE(c.citizen_address, '')) = $1 \
             OR EXISTS (SELECT 1 FROM messages m WHERE m.case_id = c.id AND LOWER(COALESCE(m.from_address, '')) = $1) \
             OR EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id AND LOWER(o.recipient) = $1) \
             ORDER BY c.id",
        )
        .bind(&address)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PersonCase {
                    id: CaseId(r.try_get(0)?),
                    number: r.try_get(1)?,
                    legal_hold: r.try_get::<i64, _>(2)? != 0,
                    registered: r.try_get::<i64, _>(3)? != 0,
                })
            })
            .collect()
    }

    /// Every outgoing mail of a case, as sent or to be sent (for an export).
    pub async fn outbox_raws(
        &self,
        case: CaseId,
    ) -> Result<Vec<(i64, String, Vec<u8>)>, StoreError> {
        let rows = sqlx::query("SELECT id, kind, raw FROM outbox WHERE case_id = $1 ORDER BY id")
            .bind(case.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// The chat questions that became a case (for an export).
    pub async fn chat_questions_of_case(
        &self,
        number: &str,
    ) -> Result<Vec<(i64, Option<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT asked_at, question FROM chat_questions WHERE case_number = $1 ORDER BY asked_at",
        )
        .bind(number)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Removes audit entries older than `before` (unix seconds); returns how many.
    pub async fn purge_audit_log(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Audit entries, newest first, filtered by actor, case number and action.
    pub async fn search_audit(
        &self,
        actor: Option<&str>,
        case: Option<&str>,
        action: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.at, a.actor, a.action, c.number, a.detail FROM audit_log a \
             LEFT JOIN cases c ON c.id = a.case_id \
             WHERE ($1 = '' OR a.actor = $1) AND ($2 = '' OR c.number = $2) AND ($3 = '' OR a.action = $3) \
             ORDER BY a.id DESC LIMIT $4",
        )
        .bind(actor.unwrap_or(""))
        .bind(case.unwrap_or(""))
        .bind(action.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    at: r.try_get(0)?,
                    actor: r.try_get(1)?,
                    action: r.try_get(2)?,
                    case_number: r.try_get(3)?,
                    detail: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Records reads (who opened which case or attachment) in one transaction.
    pub async fn record_reads(&self, reads: &[ReadRecord]) -> Result<(), StoreError> {
        if reads.is_empty() {
            return Ok(());
        }
        // Many rows per statement: the read audit writes as fast as people read.
        let mut tx = self.pool().begin().await?;
        for chunk in reads.chunks(100) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = i * 5;
                    format!(
                        "(${}, ${}, ${}, ${}, ${})",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_log (at, actor, action, case_id, detail) VALUES {}",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for r in chunk {
                query = query
                    .bind(r.at)
                    .bind(&r.actor)
                    .bind(r.action)
                    .bind(r.case.map(|c| c.0))
                    .bind(&r.detail);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A case that holds something of a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonCase {
    /// The case.
    pub id: CaseId,
    /// Its number.
    pub number: String,
    /// Under legal hold: erasure leaves it alone.
    pub legal_hold: bool,
    /// Registered as allmän handling: its registry metadata stays.
    pub registered: bool,
}

/// One read to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    /// Unix seconds.
    pub at: i64,
    /// Who (log-in name).
    pub actor: String,
    /// `read-case`, `read-attachment`, `read-html`, `privacy-export`...
    pub action: &'static str,
    /// The case.
    pub case: Option<CaseId>,
    /// What, without personal data (an attachment's index, a message id).
    pub detail: String,
}

/// An audit entry as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    /// Unix seconds.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Which case.
    pub case_number: Option<String>,
    /// Details.
    pub detail: String,
}

async fn remove_content(tx: &mut Transaction<'_, Any>, case: CaseId) -> Result<(), StoreError> {
    let at = now();
    let empty: &[u8] = &[];
    sqlx::query(
        "UPDATE messages SET body_text = '', classification_text = '', attachments = '[]', raw = $1 WHERE case_id = $2",
    )
    .bind(empty)
    .bind(case.0)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE outbox SET status = 'discarded' WHERE case_id = $1 AND status IN ('pending', 'dead')")
        .bind(case.0)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE outbox SET raw = $1, last_error = NULL WHERE case_id = $2")
        .bind(empty)
        .bind(case.0)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE case_notes SET text = '' WHERE case_id = $1")
        .bind(case.0)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE routing_decisions SET explanation = '', details = '{}' WHERE case_id = $1")
        .bind(case.0)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE cases SET content_removed_at = COALESCE(content_removed_at, $1) WHERE id = $2",
    )
    .bind(at)
    .bind(case.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
