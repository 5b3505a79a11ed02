//! The queue, the case page, search, attachments, and what people do to a case.

use super::auth::Staff;
use super::{
    see_other, Lang, Notice, PageContext, PanelError, PanelLanguage, PanelState, TokenForm,
};
use crate::domain::{CaseNumber, CaseStatus};
use crate::store::{CaseDetail, CaseRow, QueueFilter, StatusFilter};
use crate::triage::{StaffDecision, TriageError};
use axum::extract::{Form, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Cases per queue page.
const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub(super) struct QueueParams {
    status: Option<String>,
    department: Option<String>,
    language: Option<String>,
    campaign: Option<String>,
    urgent: Option<String>,
    sensitive: Option<String>,
    overdue: Option<String>,
    page: Option<u32>,
}

impl QueueParams {
    fn filter(&self) -> QueueFilter {
        let status = match self.status.as_deref() {
            Some("triage") => StatusFilter::Triage,
            Some("routed") => StatusFilter::Routed,
            Some("closed") => StatusFilter::Closed,
            Some("all") => StatusFilter::All,
            _ => StatusFilter::Open,
        };
        let some = |v: &Option<String>| v.clone().filter(|s| !s.is_empty() && s.len() <= 100);
        QueueFilter {
            status,
            department: some(&self.department),
            urgent: self.urgent.is_some(),
            sensitive: self.sensitive.is_some(),
            language: some(&self.language),
            campaign: some(&self.campaign),
            overdue: self.overdue.is_some(),
        }
    }

    /// The query string of this filter on another page.
    fn link(&self, page: u32) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("department", &self.department),
            ("language", &self.language),
            ("campaign", &self.campaign),
            ("urgent", &self.urgent),
            ("sensitive", &self.sensitive),
            ("overdue", &self.overdue),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.append_pair("page", &page.to_string());
        format!("/?{}", q.finish())
    }
}

/// A case as a row of a list.
#[derive(Serialize)]
struct CaseListRow {
    number: String,
    subject: String,
    department: Option<String>,
    confidence: String,
    status: &'static str,
    flags: Vec<&'static str>,
    received: String,
}

fn list_row(c: &CaseRow) -> CaseListRow {
    CaseListRow {
        number: c.number.to_string(),
        subject: c.subject.clone(),
        department: c.department.clone(),
        confidence: percent(c.confidence),
        status: c.status.as_str(),
        flags: flags(c),
        received: super::view::local_time(c.created_at),
    }
}

fn flags(c: &CaseRow) -> Vec<&'static str> {
    let mut out = Vec::new();
    if c.flags.urgent {
        out.push("urgent");
    }
    if c.overdue {
        out.push("overdue");
    }
    if c.flags.sensitive {
        out.push("sensitive");
    }
    if c.flags.auto_reply {
        out.push("auto_reply");
    }
    if c.flags.bulk {
        out.push("bulk");
    }
    out
}

fn percent(v: Option<f64>) -> String {
    v.map(|v| format!("{:.0} %", v * 100.0))
        .unwrap_or_else(|| "–".into())
}

#[derive(Serialize)]
struct FilterOption {
    value: String,
    label: String,
    count: Option<i64>,
    selected: bool,
}

/// The queue: cases needing triage first, then urgent, then oldest; with filters and
/// their counts.
pub(super) async fn queue(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
    Query(params): Query<QueueParams>,
) -> Result<Response, PanelError> {
    let filter = params.filter();
    let scope = staff.member.case_scope();
    let page = params.page.unwrap_or(1).clamp(1, 100_000);
    let offset = i64::from(page - 1) * PAGE_SIZE;
    let mut cases = state
        .store()
        .queue(&filter, scope, offset, PAGE_SIZE + 1)
        .await?;
    let more = cases.len() as i64 > PAGE_SIZE;
    cases.truncate(PAGE_SIZE as usize);
    let (counts, counted_at) = state.queue_counts(scope).await?;
    let status_count = |s: &str| {
        counts
            .by_status
            .iter()
            .find(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .unwrap_or(0)
    };
    let statuses: Vec<FilterOption> = [
        (StatusFilter::Open, "open", Some(counts.open)),
        (StatusFilter::Triage, "triage", Some(status_count("triage"))),
        (StatusFilter::Routed, "routed", Some(status_count("routed"))),
        (StatusFilter::Closed, "closed", Some(status_count("closed"))),
        (
            StatusFilter::All,
            "all",
            Some(counts.by_status.iter().map(|(_, n)| n).sum()),
        ),
    ]
    .into_iter()
    .map(|(f, value, count)| FilterOption {
        value: value.into(),
        label: state.word(language, &format!("status_{value}")),
        count,
        selected: filter.status == f,
    })
    .collect();
    let rules = state.triage().classifier().rules();
    let departments: Vec<FilterOption> = rules
        .departments()
        .filter(|d| staff.member.may_see(Some(d.id.as_str())))
        .map(|d| FilterOption {
            value: d.id.to_string(),
            label: department_name(d, language),
            count: Some(
                counts
                    .by_department
                    .iter()
                    .find(|(k, _)| k == d.id.as_str())
                    .map(|(_, n)| *n)
                    .unwrap_or(0),
            ),
            selected: filter.department.as_deref() == Some(d.id.as_str()),
        })
        .collect();
    let simple = |rows: &[(String, i64)], selected: &Option<String>| -> Vec<FilterOption> {
        rows.iter()
            .map(|(k, n)| FilterOption {
                value: k.clone(),
                label: k.clone(),
                count: Some(*n),
                selected: selected.as_deref() == Some(k.as_str()),
            })
            .collect()
    };
    let ctx = PageContext::new(language, &staff, "queue_title", "queue", notice);
    state.page(
        "queue.html",
        &ctx,
        json!({
            "cases": cases.iter().map(list_row).collect::<Vec<_>>(),
            "statuses": statuses,
            "departments": departments,
            "languages": simple(&counts.by_language, &filter.language),
            "campaigns": simple(&counts.by_campaign, &filter.campaign),
            "counts": &*counts,
            "counts_at": super::view::local_time(counted_at),
            "filter": { "urgent": filter.urgent, "sensitive": filter.sensitive, "overdue": filter.overdue },
            "previous_page": (page > 1).then(|| params.link(page - 1)),
            "next_page": more.then(|| params.link(page + 1)),
        }),
    )
}

fn department_name(d: &crate::routing::Department, language: PanelLanguage) -> String {
    match language {
        PanelLanguage::Sv => d.name.clone(),
        PanelLanguage::En if !d.name_en.is_empty() => d.name_en.clone(),
        PanelLanguage::En => d.name.clone(),
    }
}

#[derive(Deserialize)]
pub(super) struct SearchParams {
    #[serde(default)]
    q: String,
}

/// Search over the cases this person may see.
pub(super) async fn search(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
    Query(params): Query<SearchParams>,
) -> Result<Response, PanelError> {
    let q = params.q.trim().chars().take(200).collect::<String>();
    let cases = if q.is_empty() {
        Vec::new()
    } else {
        state
            .store()
            .search_cases(&q, staff.member.case_scope(), 100)
            .await?
    };
    let ctx = PageContext::new(language, &staff, "search_title", "search", notice);
    state.page(
        "search.html",
        &ctx,
        json!({ "q": q, "cases": cases.iter().map(list_row).collect::<Vec<_>>() }),
    )
}

fn parse_number(number: &str) -> Result<CaseNumber, PanelError> {
    CaseNumber::parse(number).map_err(|_| PanelError::NotFound)
}

#[derive(Deserialize, Default)]
pub(super) struct CaseParams {
    html: Option<i64>,
    #[serde(rename = "use")]
    use_suggestion: Option<usize>,
}

/// One case: facts, why it went where it went, suggested replies, the thread, actions.
pub(super) async fn case_page(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
    Path(number): Path<String>,
    Query(params): Query<CaseParams>,
) -> Result<Response, PanelError> {
    let number = parse_number(&number)?;
    let detail = state
        .store()
        .case_detail(number)
        .await?
        .ok_or(PanelError::NotFound)?;
    staff.must_see(detail.case.department.as_deref())?;
    let reads = &state.0.reads;
    reads.read(
        &staff.member.username,
        "read-case",
        detail.case.id,
        String::new(),
    );
    if let Some(message) = params.html {
        reads.read(
            &staff.member.username,
            "read-html",
            detail.case.id,
            format!("message {message}"),
        );
    }
    let key = SuggestionKey {
        case: detail.case.id.0,
        department: detail.case.department.clone(),
        generation: state.triage().classifier().index().generation(),
        signature: staff.member.display_name.clone(),
    };
    let suggestions = match state.0.suggestions.get(&key) {
        Some(s) => s,
        None => match state
            .triage()
            .suggest_replies(number, &staff.member.display_name)
            .await
        {
            Ok(s) => state.0.suggestions.put(key, s),
            Err(e) => {
                tracing::warn!(case.id = %detail.case.id, error = %e, "no reply suggestions");
                std::sync::Arc::new(Vec::new())
            }
        },
    };
    let html_message = match params.html {
        Some(id) => state
            .store()
            .message_raw(detail.case.id, id)
            .await?
            .and_then(|raw| crate::ingest::html_body_of(&raw))
            .map(|html| (id, super::sanitise_mail_html(&html))),
        None => None,
    };
    let rules = state.triage().classifier().rules();
    let department_name_of = |id: &str| {
        rules
            .department(id)
            .map(|d| department_name(d, language))
            .unwrap_or_else(|| id.to_owned())
    };
    let departments: Vec<Value> = rules
        .departments()
        .map(|d| json!({ "id": d.id.as_str(), "name": department_name(d, language) }))
        .collect();
    let reply_prefill = params
        .use_suggestion
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| suggestions.get(i))
        .map(|s| s.body.clone())
        .unwrap_or_default();
    let view = CaseView::build(&detail, staff.member.may_triage(), html_message);
    let ctx = PageContext::new(language, &staff, "facts", "queue", notice);
    let title_subject = detail.case.subject.clone();
    state.page(
        "case.html",
        &ctx,
        json!({
            "case": {
                "number": detail.case.number.to_string(),
                "subject": title_subject,
                "status": detail.case.status.as_str(),
                "department": detail.case.department,
                "department_name": detail.case.department.as_deref().map(department_name_of),
                "confidence": percent(detail.case.confidence),
                "language": detail.case.language,
                "channel": detail.channel,
                "citizen_address": detail.citizen_address,
                "received": super::view::local_time(detail.case.created_at),
                "reply_due": detail.case.reply_due,
                "campaign": detail.case.campaign,
                "flags": flags(&detail.case),
                "registered": detail.registered,
                "legal_hold": detail.legal_hold,
                "merged_into": detail.merged_into,
            },
            "routing": view.routing,
            "thread": view.thread,
            "departments": departments,
            "suggestions": suggestions.iter().map(|s| json!({
                "entry_id": s.entry_id, "department": s.department,
                "score": format!("{:.1}", s.score),
                "date": s.date.map(super::view::local_time),
                "body": s.body,
            })).collect::<Vec<_>>(),
            "may_triage": staff.member.may_triage(),
            "can_reply": detail.citizen_address.is_some() || detail.messages.iter().any(|m| m.from_address.is_some()),
            "reply_prefill": reply_prefill,
        }),
    )
}

/// What suggested replies depend on: the case, its department (the reply template), the
/// knowledge base as it is now, and who signs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct SuggestionKey {
    case: i64,
    department: Option<String>,
    generation: u64,
    signature: String,
}

/// Suggested replies made for a case page, reused until the case's department, the
/// knowledge base or the signer changes: a case is read many times between changes, and
/// making suggestions means reading the mail again and searching the index.
#[derive(Default)]
pub(super) struct SuggestionCache {
    entries: std::sync::Mutex<
        std::collections::HashMap<
            SuggestionKey,
            std::sync::Arc<Vec<crate::triage::SuggestedReply>>,
        >,
    >,
}

impl SuggestionCache {
    /// At most this many pages' suggestions are kept; then the cache starts over.
    const CAPACITY: usize = 5_000;

    fn get(
        &self,
        key: &SuggestionKey,
    ) -> Option<std::sync::Arc<Vec<crate::triage::SuggestedReply>>> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn put(
        &self,
        key: SuggestionKey,
        suggestions: Vec<crate::triage::SuggestedReply>,
    ) -> std::sync::Arc<Vec<crate::triage::SuggestedReply>> {
        let suggestions = std::sync::Arc::new(suggestions);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.insert(key, std::sync::Arc::clone(&suggestions));
        suggestions
    }
}

/// The case page's computed parts.
struct CaseView {
    routing: Option<Value>,
    thread: Vec<Value>,
}

impl CaseView {
    fn build(detail: &CaseDetail, may_triage: bool, html: Option<(i64, String)>) -> Self {
        // The machine's decision explains the routing; a person's later decision is in the
        // thread.
        let routing = detail
            .decisions
            .iter()
            .rev()
            .find(|d| d.details.get("ranking").is_some())
            .map(|d| {
                let details = &d.details;
                let rules: Vec<Value> = details["rules"]
                    .as_array()
                    .map(|rules| {
                        rules
                            .iter()
                            .map(|r| {
                                let mut matched: Vec<String> = r["keywords"]
                                    .as_array()
                                    .into_iter()
                                    .flatten()
                                    .filter_map(|k| {
                                        Some(format!("{} ({:.1})", k[0].as_str()?, k[1].as_f64()?))
                                    })
                                    .collect();
                                matched.extend(
                                    r["patterns"]
                                        .as_array()
                                        .into_iter()
                                        .flatten()
                                        .filter_map(|p| p.as_str().map(str::to_owned)),
                                );
                                json!({
                                    "department": r["department"],
                                    "matched": matched.join(", "),
                                    "score": format!("{:.1}", r["score"].as_f64().unwrap_or(0.0)),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let neighbours: Vec<Value> = details["neighbours"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|n| {
                        let id = n["id"].as_str().unwrap_or("");
                        json!({
                            "id": id,
                            "department": n["department"],
                            "score": format!("{:.1}", n["score"].as_f64().unwrap_or(0.0)),
                            "link": may_triage.then(|| format!("/knowledge/{}", super::path_segment(id))),
                        })
                    })
                    .collect();
                let telling: Vec<String> = details["telling_words"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|w| match w {
                        Value::String(s) => Some(s.clone()),
                        Value::Array(a) => a.first().and_then(|s| s.as_str()).map(str::to_owned),
                        _ => None,
                    })
                    .collect();
                json!({
                    "explanation": d.explanation,
                    "telling_words": telling,
                    "rules": rules,
                    "neighbours": neighbours,
                })
            });
        let mut thread: Vec<(i64, u8, Value)> = Vec::new();
        for m in &detail.messages {
            let shown_html = html
                .as_ref()
                .filter(|(id, _)| *id == m.id)
                .map(|(_, h)| h.clone());
            thread.push((
                m.received_at,
                0,
                json!({
                    "kind": "message", "id": m.id, "when": super::view::local_time(m.received_at),
                    "from": m.from_address, "subject": m.subject, "text": m.body_text,
                    "automatic": m.automation_reason.is_some(),
                    "html": shown_html, "has_html": m.has_html,
                    "attachments": m.attachments.iter().enumerate().map(|(i, a)| json!({
                        "name": safe_file_name(a.filename.as_deref(), i),
                        "content_type": a.content_type, "size": human_size(a.size),
                    })).collect::<Vec<_>>(),
                }),
            ));
        }
        for n in &detail.notes {
            thread.push((
                n.created_at,
                1,
                json!({ "kind": "note", "when": super::view::local_time(n.created_at), "author": n.author, "text": n.text }),
            ));
        }
        for d in &detail.decisions {
            thread.push((
                d.created_at,
                2,
                json!({
                    "kind": "decision", "when": super::view::local_time(d.created_at),
                    "source": d.decided_by, "actor": d.actor, "department": d.department,
                    "confidence": percent(Some(d.confidence)), "auto_routed": d.auto_routed,
                    "explanation": d.explanation,
                }),
            ));
        }
        for o in &detail.outgoing {
            thread.push((
                o.created_at,
                3,
                json!({
                    "kind": "outgoing", "id": o.id.0, "when": super::view::local_time(o.created_at),
                    "outgoing_kind": o.kind, "recipient": o.recipient, "status": o.status,
                    "error": o.last_error, "text": o.text,
                }),
            ));
        }
        thread.sort_by_key(|(at, order, _)| (*at, *order));
        Self {
            routing,
            thread: thread.into_iter().map(|(_, _, v)| v).collect(),
        }
    }
}

fn human_size(bytes: usize) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.0} kB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// Sends an attachment as a download, never shown inline, under a safe file name.
pub(super) async fn attachment(
    State(state): State<PanelState>,
    staff: Staff,
    Path((number, message, index)): Path<(String, i64, usize)>,
) -> Result<Response, PanelError> {
    let number = parse_number(&number)?;
    let (case, department, _) = state
        .store()
        .case_summary(number)
        .await?
        .ok_or(PanelError::NotFound)?;
    staff.must_see(department.as_deref())?;
    let raw = state
        .store()
        .message_raw(case, message)
        .await?
        .ok_or(PanelError::NotFound)?;
    let (meta, contents) =
        tokio::task::spawn_blocking(move || crate::ingest::attachment_of(&raw, index))
            .await?
            .ok_or(PanelError::NotFound)?;
    state.0.reads.read(
        &staff.member.username,
        "read-attachment",
        case,
        format!("message {message}, attachment {index}"),
    );
    let name = safe_file_name(meta.filename.as_deref(), index);
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_file_name(&name),
        super::path_segment(&name)
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        contents,
    )
        .into_response())
}

/// A file name without paths, control characters or quotes, at most 120 characters.
fn safe_file_name(name: Option<&str>, index: usize) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(
                    c,
                    '"' | '\\' | '/' | ';' | '\u{202e}' | '\u{202d}' | '\u{200e}' | '\u{200f}'
                )
        })
        .take(120)
        .collect::<String>()
        .trim_matches(|c: char| c == '.' || c.is_whitespace())
        .to_owned();
    if cleaned.is_empty() {
        format!("bilaga-{}", index + 1)
    } else {
        cleaned
    }
}

fn ascii_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[derive(Deserialize)]
pub(super) struct RerouteForm {
    csrf: String,
    department: String,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
pub(super) struct ReplyForm {
    csrf: String,
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
pub(super) struct NoteForm {
    csrf: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
pub(super) struct MergeForm {
    csrf: String,
    #[serde(default)]
    into: String,
}

/// The case behind an action, after checking the form token and the person's rights.
async fn acted_on(
    state: &PanelState,
    staff: &Staff,
    number: &str,
    token: &str,
    triage_only: bool,
) -> Result<(CaseNumber, crate::domain::CaseId, CaseStatus), PanelError> {
    staff.check_form(token)?;
    let number = parse_number(number)?;
    let (id, department, status) = state
        .store()
        .case_summary(number)
        .await?
        .ok_or(PanelError::NotFound)?;
    staff.must_see(department.as_deref())?;
    if triage_only {
        staff.must_triage()?;
    }
    Ok((number, id, status))
}

fn back_to(number: CaseNumber, query: &str) -> Response {
    see_other(&format!("/cases/{number}?{query}"))
}

fn decision_outcome(
    number: CaseNumber,
    done: &str,
    result: Result<crate::triage::DecisionReport, TriageError>,
) -> Result<Response, PanelError> {
    match result {
        Ok(_) => Ok(back_to(number, &format!("done={done}"))),
        Err(TriageError::NothingToConfirm(_)) => Ok(back_to(number, "error=nothing_to_confirm")),
        Err(TriageError::UnknownDepartment(_)) => Ok(back_to(number, "error=unknown_department")),
        Err(e) => Err(e.into()),
    }
}

/// Confirms the suggested department.
pub(super) async fn confirm(
    State(state): State<PanelState>,
    staff: Staff,
    Path(number): Path<String>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PanelError> {
    let (number, _, _) = acted_on(&state, &staff, &number, &form.csrf, true).await?;
    let result = state
        .triage()
        .decide(number, StaffDecision::Confirm, &staff.member.username)
        .await;
    state.counts_changed();
    decision_outcome(number, "confirm", result)
}

/// Sends the case to another department, with a reason.
pub(super) async fn reroute(
    State(state): State<PanelState>,
    staff: Staff,
    Path(number): Path<String>,
    Form(form): Form<RerouteForm>,
) -> Result<Response, PanelError> {
    let (number, _, _) = acted_on(&state, &staff, &number, &form.csrf, true).await?;
    let reason: String = form.reason.trim().chars().take(500).collect();
    let result = state
        .triage()
        .decide(
            number,
            StaffDecision::Reroute {
                department: form.department,
                reason,
            },
            &staff.member.username,
        )
        .await;
    state.counts_changed();
    decision_outcome(number, "reroute", result)
}

/// Sends a reply to the citizen through the outbox.
pub(super) async fn reply(
    State(state): State<PanelState>,
    staff: Staff,
    Path(number): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Result<Response, PanelError> {
    let (number, _, _) = acted_on(&state, &staff, &number, &form.csrf, false).await?;
    if form.body.len() > 20_000 {
        return Err(PanelError::BadRequest("reply too long"));
    }
    let body = form.body.replace("\r\n", "\n");
    match state
        .triage()
        .send_reply(
            number,
            &body,
            &staff.member.display_name,
            &staff.member.username,
        )
        .await
    {
        Ok(Some(_)) => Ok(back_to(number, "done=reply")),
        Ok(None) => Ok(back_to(number, "done=reply_again")),
        Err(TriageError::EmptyReply) => Ok(back_to(number, "error=empty_reply")),
        Err(TriageError::NoCitizenAddress(_)) => Ok(back_to(number, "error=no_address")),
        Err(e) => Err(e.into()),
    }
}

/// Adds an internal note.
pub(super) async fn note(
    State(state): State<PanelState>,
    staff: Staff,
    Path(number): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Response, PanelError> {
    let (number, id, _) = acted_on(&state, &staff, &number, &form.csrf, false).await?;
    let text = form.text.replace("\r\n", "\n");
    if text.trim().is_empty() {
        return Ok(back_to(number, "error=empty_note"));
    }
    if text.len() > 10_000 {
        return Err(PanelError::BadRequest("note too long"));
    }
    state
        .store()
        .add_note(id, &staff.member.username, text.trim())
        .await?;
    Ok(back_to(number, "done=note"))
}

/// Merges this case, a duplicate, into another open case.
pub(super) async fn merge(
    State(state): State<PanelState>,
    staff: Staff,
    Path(number): Path<String>,
    Form(form): Form<MergeForm>,
) -> Result<Response, PanelError> {
    let (number, id, _) = acted_on(&state, &staff, &number, &form.csrf, true).await?;
    let Ok(into) = CaseNumber::parse(form.into.trim().to_uppercase().as_str()) else {
        return Ok(back_to(number, "error=merge_target"));
    };
    let target = state.store().case_summary(into).await?;
    match target {
        Some((into_id, _, status)) if into_id != id && status != CaseStatus::Closed => {
            state
                .store()
                .merge_case(id, into_id, into, &staff.member.username)
                .await?;
            state.counts_changed();
            Ok(see_other(&format!("/cases/{into}?done=merge")))
        }
        _ => Ok(back_to(number, "error=merge_target")),
    }
}

/// A step on a case that needs nothing but the button.
#[derive(Clone, Copy)]
enum CaseStep {
    Register,
    Close,
    Reopen,
}

async fn case_step(
    state: PanelState,
    staff: Staff,
    number: String,
    form: TokenForm,
    step: CaseStep,
) -> Result<Response, PanelError> {
    let triage_only = matches!(step, CaseStep::Register);
    let (number, id, _) = acted_on(&state, &staff, &number, &form.csrf, triage_only).await?;
    let actor = &staff.member.username;
    let done = match step {
        CaseStep::Register => {
            state.store().mark_registered(id, actor).await?;
            "register"
        }
        CaseStep::Close | CaseStep::Reopen => {
            let close = matches!(step, CaseStep::Close);
            state.store().set_case_closed(id, close, actor).await?;
            state.counts_changed();
            if close {
                "close"
            } else {
                "reopen"
            }
        }
    };
    Ok(back_to(number, &format!("done={done}")))
}

/// Marks the case as allmän handling to register.
pub(super) async fn register(
    State(state): State<PanelState>,
    staff: Staff,
    Path(number): Path<String>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PanelError> {
    case_step(state, staff, number, form, CaseStep::Register).await
}

/// Closes the case.
pub(super) async fn close(
    State(state): State<PanelState>,
    staff: Staff,
    Path(number): Path<String>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PanelError> {
    case_step(state, staff, number, form, CaseStep::Close).await
}

/// Opens a closed case again.
pub(super) async fn reopen(
    State(state): State<PanelState>,
    staff: Staff,
    Path(number): Path<String>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PanelError> {
    case_step(state, staff, number, form, CaseStep::Reopen).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_lose_paths_controls_and_quotes() {
        assert_eq!(safe_file_name(Some("../../etc/passwd"), 0), "passwd");
        assert_eq!(
            safe_file_name(Some("C:\\Users\\x\\ritning.pdf"), 0),
            "ritning.pdf"
        );
        assert_eq!(safe_file_name(Some("a\"b;\r\nc.txt"), 0), "abc.txt");
        assert_eq!(
            safe_file_name(Some("faktura\u{202e}fdp.exe"), 0),
            "fakturafdp.exe"
        );
        assert_eq!(safe_file_name(Some("..."), 2), "bilaga-3");
        assert_eq!(safe_file_name(None, 0), "bilaga-1");
        assert_eq!(ascii_file_name("Ansökan ä.pdf"), "Ans_kan _.pdf");
    }

    #[test]
    fn queue_links_keep_the_filter() {
        let p = QueueParams {
            department: Some("bygg-miljo".into()),
            urgent: Some("1".into()),
            ..Default::default()
        };
        assert_eq!(p.link(2), "/?department=bygg-miljo&urgent=1&page=2");
        assert_eq!(p.filter().status, StatusFilter::Open);
        assert!(p.filter().urgent && !p.filter().overdue);
    }
}
