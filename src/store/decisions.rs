//! A person's routing decision on a case: the case moves to its department, the decision
//! and the audit entry are recorded, the forward is queued and, where allowed, the
//! redacted enquiry joins the knowledge base, all in one transaction.

use super::outbox::{insert_outbox, NewOutboxEntry};
use super::{now, text, Store, StoreError};
use crate::domain::{CaseFlags, CaseId, CaseNumber, CaseStatus};
use crate::routing::KnowledgeEntry;
use sqlx::Row;

/// What a decision needs to know about a case.
#[derive(Debug, Clone)]
pub struct CaseForDecision {
    /// The case.
    pub id: CaseId,
    /// Its number.
    pub number: CaseNumber,
    /// Its status.
    pub status: CaseStatus,
    /// Its department (chosen or suggested).
    pub department: Option<String>,
    /// Its flags.
    pub flags: CaseFlags,
    /// How many routing decisions it has had.
    pub decisions: i64,
    /// The first message, as received.
    pub raw: Vec<u8>,
    /// The latest message from outside (what a reply answers), as received.
    pub latest_raw: Vec<u8>,
    /// The case's language (ISO 639-1).
    pub language: String,
}

/// A person's decision, ready to record.
#[derive(Debug, Clone)]
pub struct StaffDecisionRecord {
    /// The case.
    pub case_id: CaseId,
    /// The department it goes to.
    pub department: String,
    /// The decision row.
    pub decision: super::NewDecision,
    /// The forward to queue, if the case moves to a department that gets mail.
    pub forward: Option<NewOutboxEntry>,
    /// The redacted enquiry to keep as a knowledge entry, if it may be shared.
    pub knowledge: Option<KnowledgeEntry>,
    /// For the audit log.
    pub audit_action: &'static str,
    /// For the audit log: no personal data.
    pub audit_detail: String,
}

impl Store {
    /// The case with this number, with its first message.
    pub async fn case_for_decision(
        &self,
        number: CaseNumber,
    ) -> Result<Option<CaseForDecision>, StoreError> {
        let row = sqlx::query(
            "SELECT c.id, c.status, c.department_id, c.urgent, c.sensitive, c.auto_reply, c.bulk, \
             (SELECT COUNT(*) FROM routing_decisions d WHERE d.case_id = c.id), \
             (SELECT m.raw FROM messages m WHERE m.case_id = c.id ORDER BY m.id LIMIT 1), \
             (SELECT m.raw FROM messages m WHERE m.case_id = c.id ORDER BY m.id DESC LIMIT 1), \
             c.language \
             FROM cases c WHERE c.number = $1",
        )
        .bind(number.to_string())
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(CaseForDecision {
            id: CaseId(row.try_get(0)?),
            number,
            status: CaseStatus::parse(&row.try_get::<String, _>(1)?)
                .ok_or(StoreError::Corrupt("cases.status"))?,
            department: row.try_get(2)?,
            flags: CaseFlags {
                urgent: row.try_get::<i64, _>(3)? != 0,
                sensitive: row.try_get::<i64, _>(4)? != 0,
                auto_reply: row.try_get::<i64, _>(5)? != 0,
                bulk: row.try_get::<i64, _>(6)? != 0,
            },
            decisions: row.try_get(7)?,
            raw: row.try_get::<Option<Vec<u8>>, _>(8)?.unwrap_or_default(),
            latest_raw: row.try_get::<Option<Vec<u8>>, _>(9)?.unwrap_or_default(),
            language: row.try_get(10)?,
        }))
    }

    /// Records a person's decision in one transaction.
    pub async fn record_staff_decision(&self, d: StaffDecisionRecord) -> Result<(), StoreError> {
        let at = now();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE cases SET status = $1, department_id = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(CaseStatus::Routed.as_str())
        .bind(&d.department)
        .bind(at)
        .bind(d.case_id.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO routing_decisions (case_id, decided_by, department_id, confidence, auto_routed, \
             explanation, details, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(d.case_id.0)
        .bind(d.decision.decided_by.as_str())
        .bind(d.decision.department.as_deref())
        .bind(d.decision.confidence)
        .bind(i64::from(d.decision.auto_routed))
        .bind(text(&d.decision.explanation))
        .bind(text(&d.decision.details_json))
        .bind(d.decision.actor.as_deref())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if let Some(entry) = &d.forward {
            insert_outbox(&mut tx, entry).await?;
        }
        if let Some(e) = &d.knowledge {
            sqlx::query(
                "INSERT INTO knowledge_entries (id, department_id, subject, text, answer, origin, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'staff', $6) ON CONFLICT (id) DO UPDATE SET \
                 department_id = excluded.department_id, subject = excluded.subject, text = excluded.text",
            )
            .bind(text(&e.id))
            .bind(e.department.as_deref())
            .bind(text(&e.subject))
            .bind(text(&e.text))
            .bind(text(&e.answer))
            .bind(at)
            .execute(&mut *tx)
            .await?;
            super::cluster::log_knowledge_changes(&mut tx, self.backend(), &[&e.id]).await?;
        }
        super::insert_audit(
            &mut *tx,
            d.decision.actor.as_deref().unwrap_or("okänd"),
            d.audit_action,
            Some(d.case_id),
            &d.audit_detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queues a reply written by a person, with its audit entry, in one transaction.
    /// Returns false when the same reply was queued already.
    pub async fn queue_reply(
        &self,
        entry: &NewOutboxEntry,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM outbox WHERE message_id = $1")
            .bind(&entry.message_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Ok(false);
        }
        insert_outbox(&mut tx, entry).await?;
        super::insert_audit(
            &mut *tx,
            actor,
            "reply",
            Some(entry.case_id),
            &entry.message_id,
        )
        .await?;
        sqlx::query("UPDATE cases SET updated_at = $1 WHERE id = $2")
            .bind(now())
            .bind(entry.case_id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// When each of these knowledge entries entered the database (unix seconds).
    pub async fn knowledge_dates(
        &self,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for id in ids {
            let at: Option<i64> =
                sqlx::query_scalar("SELECT created_at FROM knowledge_entries WHERE id = $1")
                    .bind(*id)
                    .fetch_optional(self.pool())
                    .await?;
            if let Some(at) = at {
                out.insert((*id).to_owned(), at);
            }
        }
        Ok(out)
    }
}
