//! Cases, their messages and routing decisions, as written by an intake batch and read by
//! people.

use super::{text, Store, StoreError};
use crate::domain::working_days::{self, swedish_date_at, swedish_today};
use crate::domain::{CaseFlags, CaseId, CaseNumber, CaseStatus, Channel, DecisionSource};
use sqlx::{Any, Row, Transaction};

/// A case to create.
#[derive(Debug, Clone)]
pub struct NewCase {
    /// Triage or routed.
    pub status: CaseStatus,
    /// The department, if one was chosen or suggested.
    pub department: Option<String>,
    /// ISO 639-1 language code.
    pub language: String,
    /// Mail or chat.
    pub channel: Channel,
    /// Flags.
    pub flags: CaseFlags,
    /// Where answers to the citizen go.
    pub citizen_address: Option<String>,
    /// Subject of the first message.
    pub subject: String,
    /// The classifier's confidence.
    pub confidence: Option<f64>,
    /// Unix seconds.
    pub created_at: i64,
    /// The campaign that brought it in, if any.
    pub campaign: Option<String>,
    /// The working day by which the citizen was promised an answer (`YYYY-MM-DD`).
    pub reply_due: Option<String>,
}

/// A message to store with a case.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Message-ID or content hash key, unique across every mailbox.
    pub dedupe_key: String,
    /// `Message-ID`, if any.
    pub message_id: Option<String>,
    /// SHA-256 of the raw bytes.
    pub content_hash: String,
    /// Where it came from (`maildir`, `import`, `imap:...`).
    pub source: String,
    /// Sender.
    pub from_address: Option<String>,
    /// Subject.
    pub subject: String,
    /// `Date` header, unix seconds.
    pub sent_at: Option<i64>,
    /// Unix seconds.
    pub received_at: i64,
    /// Readable text, whole.
    pub body_text: String,
    /// What the classifier read.
    pub classification_text: String,
    /// Attachment metadata as JSON.
    pub attachments_json: String,
    /// `In-Reply-To` ids as JSON.
    pub in_reply_to_json: String,
    /// `References` ids as JSON.
    pub references_json: String,
    /// Why it counts as automatic or bulk mail.
    pub automation_reason: Option<String>,
    /// The bytes as received.
    pub raw: Vec<u8>,
}

/// A routing decision to record.
#[derive(Debug, Clone)]
pub struct NewDecision {
    /// Rules, index, both, or a person.
    pub decided_by: DecisionSource,
    /// The department chosen (or suggested, when below the threshold).
    pub department: Option<String>,
    /// In [0, 1].
    pub confidence: f64,
    /// Whether the case was routed without a person.
    pub auto_routed: bool,
    /// For people.
    pub explanation: String,
    /// For machines: JSON with rules, neighbours and ranking.
    pub details_json: String,
    /// Who decided, for a person.
    pub actor: Option<String>,
}

/// An existing case that a new message belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadMatch {
    /// The case.
    pub case_id: CaseId,
    /// Its number.
    pub number: CaseNumber,
    /// Its department.
    pub department: Option<String>,
    /// Its status.
    pub status: CaseStatus,
}

/// A case as listed for people.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseRow {
    /// Database id.
    pub id: CaseId,
    /// `KC-2026-000123`.
    pub number: CaseNumber,
    /// Status.
    pub status: CaseStatus,
    /// Department.
    pub department: Option<String>,
    /// Language.
    pub language: String,
    /// Subject.
    pub subject: String,
    /// Classifier confidence.
    pub confidence: Option<f64>,
    /// Flags.
    pub flags: CaseFlags,
    /// Unix seconds.
    pub created_at: i64,
    /// The latest routing explanation.
    pub explanation: Option<String>,
    /// The campaign that brought it in.
    pub campaign: Option<String>,
    /// The day by which an answer was promised (`YYYY-MM-DD`).
    pub reply_due: Option<String>,
    /// Not closed, and the promised day has passed (Swedish date).
    pub overdue: bool,
}

pub(super) const THREAD_COLUMNS: &str = "c.id, c.number, c.department_id, c.status";

pub(super) fn thread_from_row(row: &sqlx::any::AnyRow) -> Result<ThreadMatch, StoreError> {
    Ok(ThreadMatch {
        case_id: CaseId(row.try_get(0)?),
        number: CaseNumber::parse(&row.try_get::<String, _>(1)?)
            .map_err(|_| StoreError::Corrupt("cases.number"))?,
        department: row.try_get(2)?,
        status: CaseStatus::parse(&row.try_get::<String, _>(3)?)
            .ok_or(StoreError::Corrupt("cases.status"))?,
    })
}

impl Store {
    /// The most recent cases, newest first, with their latest explanation.
    pub async fn recent_cases(&self, limit: i64) -> Result<Vec<CaseRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM cases c ORDER BY c.id DESC LIMIT $1",
            super::casework::CASE_COLUMNS
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let today = swedish_today();
        rows.iter()
            .map(|row| super::casework::case_row(row, today))
            .collect()
    }
}

/// Whether a case with this status and stored promised day (`YYYY-MM-DD`) is overdue today.
pub(super) fn is_overdue(
    status: CaseStatus,
    reply_due: Option<&str>,
    today: time::Date,
) -> Result<bool, StoreError> {
    let Some(due) = reply_due.filter(|_| status != CaseStatus::Closed) else {
        return Ok(false);
    };
    let due = time::Date::parse(
        due,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| StoreError::Corrupt("cases.reply_due"))?;
    Ok(working_days::is_overdue(due, today))
}

/// Inserts a message unless its dedupe key exists; returns whether it was inserted.
pub(super) async fn insert_message(
    tx: &mut Transaction<'_, Any>,
    case_id: CaseId,
    m: &NewMessage,
) -> Result<bool, StoreError> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO messages (case_id, dedupe_key, message_id, content_hash, source, from_address, subject, \
         sent_at, received_at, body_text, classification_text, attachments, in_reply_to, references_ids, \
         automation_reason, raw) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(case_id.0)
    .bind(text(&m.dedupe_key))
    .bind(m.message_id.as_deref().map(text))
    .bind(&m.content_hash)
    .bind(&m.source)
    .bind(m.from_address.as_deref())
    .bind(text(&m.subject))
    .bind(m.sent_at)
    .bind(m.received_at)
    .bind(text(&m.body_text))
    .bind(text(&m.classification_text))
    .bind(text(&m.attachments_json))
    .bind(text(&m.in_reply_to_json))
    .bind(text(&m.references_json))
    .bind(m.automation_reason.as_deref())
    .bind(m.raw.as_slice())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(inserted.is_some())
}

pub(super) async fn insert_decision(
    tx: &mut Transaction<'_, Any>,
    case_id: CaseId,
    d: &NewDecision,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO routing_decisions (case_id, decided_by, department_id, confidence, auto_routed, \
         explanation, details, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(case_id.0)
    .bind(d.decided_by.as_str())
    .bind(d.department.as_deref())
    .bind(d.confidence)
    .bind(i64::from(d.auto_routed))
    .bind(text(&d.explanation))
    .bind(text(&d.details_json))
    .bind(d.actor.as_deref())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The calendar year in Sweden at a moment.
pub(super) fn swedish_year(unix_seconds: i64) -> u16 {
    swedish_date_at(unix_seconds)
        .map(|d| d.year().clamp(0, 9999) as u16)
        .unwrap_or(2026)
}

#[cfg(test)]
mod tests {
    use super::swedish_year;

    #[test]
    fn the_year_turns_at_swedish_midnight() {
        // 2026-12-31 22:59:59 UTC is 23:59:59 in Stockholm.
        assert_eq!(swedish_year(1_798_757_999), 2026);
        assert_eq!(swedish_year(1_798_758_000), 2027);
    }
}
