//! The panel's view of cases: the queue with its filters and counts, one case with its
//! thread, search, and what people do to a case besides routing it (notes, merging,
//! registering, closing, reopening). Every query is limited to what the person may see.

use super::cases::is_overdue;
use super::{insert_audit, now, text, CaseRow, Store, StoreError};
use crate::domain::working_days::swedish_today;
use crate::domain::{CaseFlags, CaseId, CaseNumber, CaseStatus, OutboxId};
use crate::ingest::AttachmentMeta;
use sqlx::Row;

/// Which cases the queue shows by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusFilter {
    /// Waiting for triage or with a department.
    #[default]
    Open,
    /// Waiting for triage.
    Triage,
    /// With a department.
    Routed,
    /// Closed (merged ones included).
    Closed,
    /// Every case.
    All,
}

/// The queue's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// By status.
    pub status: StatusFilter,
    /// One department.
    pub department: Option<String>,
    /// Only urgent cases.
    pub urgent: bool,
    /// Only sensitive cases.
    pub sensitive: bool,
    /// One language (ISO 639-1).
    pub language: Option<String>,
    /// One campaign.
    pub campaign: Option<String>,
    /// Only cases past their promised answer day.
    pub overdue: bool,
}

/// How many cases each filter value would show (among open cases, but for status).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueCounts {
    /// Per status, every case.
    pub by_status: Vec<(String, i64)>,
    /// Open cases per department (`""` for none yet).
    pub by_department: Vec<(String, i64)>,
    /// Open cases per language.
    pub by_language: Vec<(String, i64)>,
    /// Open cases per campaign.
    pub by_campaign: Vec<(String, i64)>,
    /// Open urgent cases.
    pub urgent: i64,
    /// Open sensitive cases.
    pub sensitive: i64,
    /// Open overdue cases.
    pub overdue: i64,
    /// Open cases.
    pub open: i64,
}

/// One message of a case's thread.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseMessage {
    /// Database id.
    pub id: i64,
    /// Sender address.
    pub from_address: Option<String>,
    /// Subject.
    pub subject: String,
    /// Unix seconds.
    pub received_at: i64,
    /// The readable text.
    pub body_text: String,
    /// Attachments as metadata.
    pub attachments: Vec<AttachmentMeta>,
    /// Why it counts as automatic mail, if it does.
    pub automation_reason: Option<String>,
    /// Whether it has an HTML part to show (sanitised) besides the text.
    pub has_html: bool,
}

/// A routing decision as shown on the case page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecisionRow {
    /// `rules`, `knowledge`, `model`, `person`...
    pub decided_by: String,
    /// The department.
    pub department: Option<String>,
    /// Confidence.
    pub confidence: f64,
    /// Routed without a person.
    pub auto_routed: bool,
    /// The readable reason.
    pub explanation: String,
    /// The structured reason (words, rules, nearest cases).
    pub details: serde_json::Value,
    /// Who, for a person's decision.
    pub actor: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// An internal note.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoteRow {
    /// Who wrote it.
    pub author: String,
    /// The note.
    pub text: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A mail sent or to be sent about a case.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutgoingRow {
    /// Outbox id.
    pub id: OutboxId,
    /// `forward`, `acknowledgement`, `reply`.
    pub kind: String,
    /// To whom.
    pub recipient: String,
    /// `pending`, `sent`, `dead`, `discarded`.
    pub status: String,
    /// The server's last answer, for failures.
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub sent_at: Option<i64>,
    /// The mail's readable text (replies only; others are for their recipients).
    pub text: Option<String>,
}

/// A case with everything the case page shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseDetail {
    /// The case as listed.
    pub case: CaseRow,
    /// `email` or `chat`.
    pub channel: String,
    /// The citizen's address.
    pub citizen_address: Option<String>,
    /// The case this one was merged into.
    pub merged_into: Option<String>,
    /// Marked as allmän handling to register in the diary.
    pub registered: bool,
    /// Under legal hold: retention and erasure leave it alone.
    pub legal_hold: bool,
    /// Messages, oldest first.
    pub messages: Vec<CaseMessage>,
    /// Routing decisions, oldest first.
    pub decisions: Vec<DecisionRow>,
    /// Notes, oldest first.
    pub notes: Vec<NoteRow>,
    /// Outgoing mail, oldest first.
    pub outgoing: Vec<OutgoingRow>,
}

/// Columns read into a [`CaseRow`] by [`case_row`].
pub(super) const CASE_COLUMNS: &str =
    "c.id, c.number, c.status, c.department_id, c.language, c.subject, c.confidence, \
     c.urgent, c.sensitive, c.auto_reply, c.bulk, c.created_at, \
     (SELECT d.explanation FROM routing_decisions d WHERE d.case_id = c.id ORDER BY d.id DESC LIMIT 1), \
     c.campaign, c.reply_due";

/// [`CASE_COLUMNS`] without the latest explanation (lists that do not show it).
const LIST_COLUMNS: &str =
    "c.id, c.number, c.status, c.department_id, c.language, c.subject, c.confidence, \
     c.urgent, c.sensitive, c.auto_reply, c.bulk, c.created_at, NULL, c.campaign, c.reply_due";

/// Reads the first columns of a row selected with [`CASE_COLUMNS`].
pub(super) fn case_row(row: &sqlx::any::AnyRow, today: time::Date) -> Result<CaseRow, StoreError> {
    let reply_due: Option<String> = row.try_get(14)?;
    let status = CaseStatus::parse(&row.try_get::<String, _>(2)?)
        .ok_or(StoreError::Corrupt("cases.status"))?;
    Ok(CaseRow {
        id: CaseId(row.try_get(0)?),
        number: CaseNumber::parse(&row.try_get::<String, _>(1)?)
            .map_err(|_| StoreError::Corrupt("cases.number"))?,
        status,
        department: row.try_get(3)?,
        language: row.try_get(4)?,
        subject: row.try_get(5)?,
        confidence: row.try_get(6)?,
        flags: CaseFlags {
            urgent: row.try_get::<i64, _>(7)? != 0,
            sensitive: row.try_get::<i64, _>(8)? != 0,
            auto_reply: row.try_get::<i64, _>(9)? != 0,
            bulk: row.try_get::<i64, _>(10)? != 0,
        },
        created_at: row.try_get(11)?,
        explanation: row.try_get(12)?,
        campaign: row.try_get(13)?,
        overdue: is_overdue(status, reply_due.as_deref(), today)?,
        reply_due,
    })
}

/// Whether a stored mail has an HTML body to show. Most mail has no `text/html` at all,
/// and a byte search says so without parsing; the rest is parsed, because the words may
/// stand in an attachment's headers instead.
fn has_html_body(raw: &[u8]) -> bool {
    raw.windows(9).any(|w| w.eq_ignore_ascii_case(b"text/html"))
        && crate::ingest::html_body_of(raw).is_some()
}

/// A case's place in the queue by status (as in [`QUEUE_ORDER`]).
fn queue_rank(status: CaseStatus) -> u8 {
    match status {
        CaseStatus::Triage => 0,
        CaseStatus::Routed => 1,
        CaseStatus::Closed => 2,
    }
}

/// Cases listed as a JSON array of arrays (see [`Store::queue`]).
fn rows_from_json(json: &str, today: time::Date) -> Result<Vec<CaseRow>, StoreError> {
    let corrupt = || StoreError::Corrupt("queue page");
    let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(json).map_err(|_| corrupt())?;
    rows.into_iter()
        .map(|r| {
            let text = |i: usize| r.get(i).and_then(|v| v.as_str()).map(str::to_owned);
            let int = |i: usize| r.get(i).and_then(serde_json::Value::as_i64);
            let status = CaseStatus::parse(&text(2).ok_or_else(corrupt)?).ok_or_else(corrupt)?;
            let reply_due = text(13);
            Ok(CaseRow {
                id: CaseId(int(0).ok_or_else(corrupt)?),
                number: CaseNumber::parse(&text(1).ok_or_else(corrupt)?).map_err(|_| corrupt())?,
                status,
                department: text(3),
                language: text(4).unwrap_or_default(),
                subject: text(5).unwrap_or_default(),
                confidence: r.get(6).and_then(serde_json::Value::as_f64),
                flags: CaseFlags {
                    urgent: int(7) == Some(1),
                    sensitive: int(8) == Some(1),
                    auto_reply: int(9) == Some(1),
                    bulk: int(10) == Some(1),
                },
                created_at: int(11).ok_or_else(corrupt)?,
                explanation: None,
                campaign: text(12),
                overdue: is_overdue(status, reply_due.as_deref(), today)?,
                reply_due,
            })
        })
        .collect()
}

/// The queue's order: needing triage first, then urgent, then oldest (matches the
/// `cases_queue` index).
const QUEUE_ORDER: &str = "(CASE c.status WHEN 'triage' THEN 0 WHEN 'routed' THEN 1 ELSE 2 END), \
                           c.urgent DESC, c.created_at, c.id";

/// Values bound to a query built piece by piece.
enum Value {
    Text(String),
    Int(i64),
}

/// A WHERE clause with its bound values, numbered `$1`, `$2`... in order.
#[derive(Default)]
struct Conditions {
    parts: Vec<String>,
    values: Vec<Value>,
}

impl Conditions {
    fn placeholder(&mut self, v: Value) -> String {
        self.values.push(v);
        format!("${}", self.values.len())
    }

    fn push(&mut self, sql: &str) {
        self.parts.push(sql.to_owned());
    }

    /// `column = value`.
    fn equals(&mut self, column: &str, value: &str) {
        let p = self.placeholder(Value::Text(value.to_owned()));
        self.parts.push(format!("{column} = {p}"));
    }

    /// The person's departments, or nothing for those who see every case.
    fn scope(&mut self, scope: Option<&[String]>) {
        let Some(departments) = scope else { return };
        if departments.is_empty() {
            self.parts.push("1 = 0".into());
            return;
        }
        let list: Vec<String> = departments
            .iter()
            .map(|d| self.placeholder(Value::Text(d.clone())))
            .collect();
        self.parts
            .push(format!("c.department_id IN ({})", list.join(", ")));
    }

    fn sql(&self) -> String {
        if self.parts.is_empty() {
            "1 = 1".into()
        } else {
            self.parts.join(" AND ")
        }
    }

    fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for v in &self.values {
            query = match v {
                Value::Text(s) => query.bind(s.as_str()),
                Value::Int(i) => query.bind(*i),
            };
        }
        query
    }
}

/// A day as stored in `reply_due` (`2026-11-27`).
fn today_text(today: time::Date) -> String {
    today.to_string()
}

impl Store {
    /// One page of the queue: `limit` cases from `offset`, in queue order.
    pub async fn queue(
        &self,
        filter: &QueueFilter,
        scope: Option<&[String]>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<CaseRow>, StoreError> {
        let today = swedish_today();
        let mut w = Conditions::default();
        w.scope(scope);
        match filter.status {
            StatusFilter::Open => w.push("c.status <> 'closed'"),
            StatusFilter::Triage => w.push("c.status = 'triage'"),
            StatusFilter::Routed => w.push("c.status = 'routed'"),
            StatusFilter::Closed => w.push("c.status = 'closed'"),
            StatusFilter::All => {}
        }
        if let Some(d) = &filter.department {
            if d.is_empty() {
                w.push("c.department_id IS NULL");
            } else {
                w.equals("c.department_id", d);
            }
        }
        if filter.urgent {
            w.push("c.urgent = 1");
        }
        if filter.sensitive {
            w.push("c.sensitive = 1");
        }
        if let Some(l) = &filter.language {
            w.equals("c.language", l);
        }
        if let Some(c) = &filter.campaign {
            w.equals("c.campaign", c);
        }
        if filter.overdue {
            let p = w.placeholder(Value::Text(today_text(today)));
            w.push(&format!("c.reply_due < {p} AND c.status <> 'closed'"));
        }
        let l = w.placeholder(Value::Int(limit));
        let o = w.placeholder(Value::Int(offset));
        let page = format!(
            "SELECT {LIST_COLUMNS} FROM cases c WHERE {} ORDER BY {QUEUE_ORDER} LIMIT {l} OFFSET {o}",
            w.sql()
        );
        if self.backend() == super::Backend::Sqlite {
            // SQLite's driver hands every row from its own thread to ours: a page of the
            // queue comes back as one row of JSON instead (a third of the queue page's
            // cost under load).
            let sql = format!(
                "SELECT json_group_array(json_array(c.id, c.number, c.status, c.department_id, c.language, \
                 c.subject, c.confidence, c.urgent, c.sensitive, c.auto_reply, c.bulk, c.created_at, \
                 c.campaign, c.reply_due)) FROM cases c WHERE c.id IN \
                 (SELECT c.id FROM cases c WHERE {} ORDER BY {QUEUE_ORDER} LIMIT {l} OFFSET {o})",
                w.sql()
            );
            let json: String = w
                .bind(sqlx::query(&sql))
                .fetch_one(self.pool())
                .await?
                .try_get(0)?;
            let mut rows = rows_from_json(&json, today)?;
            // The page's order, from the cases' own fields.
            rows.sort_by_key(|r| {
                (
                    queue_rank(r.status),
                    std::cmp::Reverse(r.flags.urgent),
                    r.created_at,
                    r.id.0,
                )
            });
            return Ok(rows);
        }
        let rows = w.bind(sqlx::query(&page)).fetch_all(self.pool()).await?;
        rows.iter().map(|r| case_row(r, today)).collect()
    }

    /// Counts for the queue's filters, within the person's scope.
    pub async fn queue_counts(&self, scope: Option<&[String]>) -> Result<QueueCounts, StoreError> {
        // Open cases are grouped every way the filters need (a partial index holds just
        // them); closed ones, nearly every case of a year, are only counted.
        let mut w = Conditions::default();
        w.scope(scope);
        w.push("c.status <> 'closed'");
        let today = w.placeholder(Value::Text(today_text(swedish_today())));
        let sql = format!(
            "SELECT c.status, COALESCE(c.department_id, ''), c.language, COALESCE(c.campaign, ''), \
             c.urgent, c.sensitive, CASE WHEN c.reply_due < {today} THEN 1 ELSE 0 END, COUNT(*) \
             FROM cases c WHERE {} GROUP BY 1, 2, 3, 4, 5, 6, 7",
            w.sql()
        );
        let rows = w.bind(sqlx::query(&sql)).fetch_all(self.pool()).await?;
        let mut closed = Conditions::default();
        closed.scope(scope);
        closed.push("c.status = 'closed'");
        let sql = format!("SELECT COUNT(*) FROM cases c WHERE {}", closed.sql());
        let closed: i64 = closed
            .bind(sqlx::query(&sql))
            .fetch_one(self.pool())
            .await?
            .try_get(0)?;
        let mut status = std::collections::BTreeMap::<String, i64>::new();
        if closed > 0 {
            status.insert("closed".into(), closed);
        }
        let mut department = std::collections::BTreeMap::<String, i64>::new();
        let mut language = std::collections::BTreeMap::<String, i64>::new();
        let mut campaign = std::collections::BTreeMap::<String, i64>::new();
        let mut counts = QueueCounts::default();
        for row in &rows {
            let s: String = row.try_get(0)?;
            let n: i64 = row.try_get(7)?;
            *status.entry(s).or_default() += n;
            counts.open += n;
            *department.entry(row.try_get(1)?).or_default() += n;
            *language.entry(row.try_get(2)?).or_default() += n;
            let c: String = row.try_get(3)?;
            if !c.is_empty() {
                *campaign.entry(c).or_default() += n;
            }
            counts.urgent += n * row.try_get::<i64, _>(4)?;
            counts.sensitive += n * row.try_get::<i64, _>(5)?;
            counts.overdue += n * row.try_get::<i64, _>(6)?;
        }
        counts.by_status = status.into_iter().collect();
        counts.by_department = department.into_iter().collect();
        counts.by_language = language.into_iter().collect();
        counts.by_campaign = campaign.into_iter().collect();
        Ok(counts)
    }

    /// Cases whose number, sender, subject or text contains `query`, newest first.
    pub async fn search_cases(
        &self,
        query: &str,
        scope: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<CaseRow>, StoreError> {
        let today = swedish_today();
        let mut w = Conditions::default();
        w.scope(scope);
        let query = query.trim();
        if let Ok(number) = CaseNumber::parse(&query.to_uppercase()) {
            w.equals("c.number", &number.to_string());
        } else {
            let escaped = query
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let p = w.placeholder(Value::Text(format!("%{escaped}%")));
            w.push(&format!(
                "(LOWER(c.subject) LIKE {p} ESCAPE '\\' OR LOWER(COALESCE(c.citizen_address, '')) LIKE {p} ESCAPE '\\' \
                 OR c.number LIKE UPPER({p}) ESCAPE '\\' \
                 OR EXISTS (SELECT 1 FROM messages m WHERE m.case_id = c.id AND \
                 (LOWER(m.body_text) LIKE {p} ESCAPE '\\' OR LOWER(COALESCE(m.from_address, '')) LIKE {p} ESCAPE '\\')))"
            ));
        }
        let l = w.placeholder(Value::Int(limit));
        let sql = format!(
            "SELECT {LIST_COLUMNS} FROM cases c WHERE {} ORDER BY c.created_at DESC, c.id DESC LIMIT {l}",
            w.sql()
        );
        let rows = w.bind(sqlx::query(&sql)).fetch_all(self.pool()).await?;
        rows.iter().map(|r| case_row(r, today)).collect()
    }

    /// The case with this number and its thread.
    pub async fn case_detail(&self, number: CaseNumber) -> Result<Option<CaseDetail>, StoreError> {
        let today = swedish_today();
        // One connection for the whole page: five queries, one wait for the pool.
        let mut conn = self.pool().acquire().await?;
        let row = sqlx::query(&format!(
            "SELECT {CASE_COLUMNS}, c.channel, c.citizen_address, c.merged_into, c.registered, c.legal_hold \
             FROM cases c WHERE c.number = $1"
        ))
        .bind(number.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let case = case_row(&row, today)?;
        let id = case.id.0;
        let messages = sqlx::query(
            "SELECT id, from_address, subject, received_at, body_text, attachments, automation_reason, raw \
             FROM messages WHERE case_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(CaseMessage {
                id: r.try_get(0)?,
                from_address: r.try_get(1)?,
                subject: r.try_get(2)?,
                received_at: r.try_get(3)?,
                body_text: r.try_get(4)?,
                attachments: serde_json::from_str(&r.try_get::<String, _>(5)?)
                    .map_err(|_| StoreError::Corrupt("messages.attachments"))?,
                automation_reason: r.try_get(6)?,
                has_html: has_html_body(&r.try_get::<Vec<u8>, _>(7)?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let decisions = sqlx::query(
            "SELECT decided_by, department_id, confidence, auto_routed, explanation, details, actor, created_at \
             FROM routing_decisions WHERE case_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(DecisionRow {
                decided_by: r.try_get(0)?,
                department: r.try_get(1)?,
                confidence: r.try_get(2)?,
                auto_routed: r.try_get::<i64, _>(3)? != 0,
                explanation: r.try_get(4)?,
                details: serde_json::from_str(&r.try_get::<String, _>(5)?)
                    .unwrap_or(serde_json::Value::Null),
                actor: r.try_get(6)?,
                created_at: r.try_get(7)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let notes = sqlx::query(
            "SELECT author, text, created_at FROM case_notes WHERE case_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok(NoteRow {
                author: r.try_get(0)?,
                text: r.try_get(1)?,
                created_at: r.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let outgoing = sqlx::query(
            "SELECT id, kind, recipient, status, last_error, created_at, sent_at, raw \
             FROM outbox WHERE case_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let kind: String = r.try_get(1)?;
            let text = if kind == "reply" {
                let raw: Vec<u8> = r.try_get(7)?;
                crate::ingest::readable_text_of(&raw)
            } else {
                None
            };
            Ok(OutgoingRow {
                id: OutboxId(r.try_get(0)?),
                kind,
                recipient: r.try_get(2)?,
                status: r.try_get(3)?,
                last_error: r.try_get(4)?,
                created_at: r.try_get(5)?,
                sent_at: r.try_get(6)?,
                text,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(CaseDetail {
            case,
            channel: row.try_get(15)?,
            citizen_address: row.try_get(16)?,
            merged_into: row.try_get(17)?,
            registered: row.try_get::<i64, _>(18)? != 0,
            legal_hold: row.try_get::<i64, _>(19)? != 0,
            messages,
            decisions,
            notes,
            outgoing,
        }))
    }

    /// A case's id, department and status, for checking rights before an action.
    pub async fn case_summary(
        &self,
        number: CaseNumber,
    ) -> Result<Option<(CaseId, Option<String>, CaseStatus)>, StoreError> {
        let row = sqlx::query("SELECT id, department_id, status FROM cases WHERE number = $1")
            .bind(number.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok((
                CaseId(r.try_get(0)?),
                r.try_get(1)?,
                CaseStatus::parse(&r.try_get::<String, _>(2)?)
                    .ok_or(StoreError::Corrupt("cases.status"))?,
            ))
        })
        .transpose()
    }

    /// The number of a case.
    pub async fn case_number(&self, case: CaseId) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT number FROM cases WHERE id = $1")
            .bind(case.0)
            .fetch_optional(self.pool())
            .await?)
    }

    /// A stored message of a case, as received (for its HTML and attachments).
    pub async fn message_raw(
        &self,
        case: CaseId,
        message: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT raw FROM messages WHERE case_id = $1 AND id = $2")
                .bind(case.0)
                .bind(message)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Adds an internal note to a case.
    pub async fn add_note(&self, case: CaseId, author: &str, note: &str) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let at = now();
        sqlx::query(
            "INSERT INTO case_notes (case_id, author, text, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(case.0)
        .bind(author)
        .bind(text(note))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE cases SET updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(case.0)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut *tx, author, "note", Some(case), "").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Merges a duplicate into another case: its messages join that case (so answers to
    /// either thread land there), and the duplicate is closed with a pointer to it.
    pub async fn merge_case(
        &self,
        duplicate: CaseId,
        into: CaseId,
        into_number: CaseNumber,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let at = now();
        sqlx::query("UPDATE messages SET case_id = $1 WHERE case_id = $2")
            .bind(into.0)
            .bind(duplicate.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE cases SET status = 'closed', merged_into = $1, closed_at = $2, updated_at = $2 WHERE id = $3",
        )
        .bind(into_number.to_string())
        .bind(at)
        .bind(duplicate.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE cases SET updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(into.0)
            .execute(&mut *tx)
            .await?;
        insert_audit(
            &mut *tx,
            actor,
            "merge",
            Some(duplicate),
            &into_number.to_string(),
        )
        .await?;
        insert_audit(
            &mut *tx,
            actor,
            "merged-in",
            Some(into),
            &duplicate.to_string(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes a case, or reopens it (back to its department, or to triage without one).
    pub async fn set_case_closed(
        &self,
        case: CaseId,
        closed: bool,
        actor: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let at = now();
        if closed {
            sqlx::query(
                "UPDATE cases SET status = 'closed', closed_at = $1, updated_at = $1 WHERE id = $2",
            )
            .bind(at)
            .bind(case.0)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE cases SET status = CASE WHEN department_id IS NULL THEN 'triage' ELSE 'routed' END, \
                 closed_at = NULL, merged_into = NULL, updated_at = $1 WHERE id = $2",
            )
            .bind(at)
            .bind(case.0)
            .execute(&mut *tx)
            .await?;
        }
        insert_audit(
            &mut *tx,
            actor,
            if closed { "close" } else { "reopen" },
            Some(case),
            "",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a case as allmän handling to register in the municipality's diary.
    pub async fn mark_registered(&self, case: CaseId, actor: &str) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE cases SET registered = 1, updated_at = $1 WHERE id = $2")
            .bind(now())
            .bind(case.0)
            .execute(&mut *tx)
            .await?;
        insert_audit(&mut *tx, actor, "register", Some(case), "").await?;
        tx.commit().await?;
        Ok(())
    }
}
