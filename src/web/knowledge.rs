//! The knowledge base as Kontaktcenter keeps it: replies turned into entries (with the
//! personal data that redaction removes shown first), edits, approval for the chat,
//! retirement, and review-by dates.

use super::auth::Staff;
use super::{see_other, Lang, Notice, PageContext, PanelError, PanelState, TokenForm};
use crate::domain::{CaseNumber, OutboxId};
use crate::routing::{KnowledgeEntry, Learned};
use crate::store::KnowledgeFilter;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

/// Entries per list.
const LIST_LIMIT: i64 = 200;

#[derive(Deserialize, Default)]
pub(super) struct ListParams {
    #[serde(default)]
    q: String,
    approved: Option<String>,
    retired: Option<String>,
}

fn entry_row(r: &crate::store::KnowledgeRow) -> serde_json::Value {
    json!({
        "id": r.entry.id, "subject": r.entry.subject, "department": r.entry.department,
        "origin": r.origin, "approved": r.entry.approved, "retired": r.retired,
        "review_by": r.review_by,
    })
}

/// The list, with the entries due for review first.
pub(super) async fn list(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
    Query(params): Query<ListParams>,
) -> Result<Response, PanelError> {
    staff.must_triage()?;
    let today = crate::domain::working_days::swedish_today().to_string();
    let due = state
        .store()
        .knowledge_rows(
            &KnowledgeFilter {
                due_by: Some(today),
                ..Default::default()
            },
            100,
        )
        .await?;
    let filter = KnowledgeFilter {
        text: Some(params.q.chars().take(200).collect()),
        approved_only: params.approved.is_some(),
        with_retired: params.retired.is_some(),
        due_by: None,
    };
    let entries = state.store().knowledge_rows(&filter, LIST_LIMIT).await?;
    let ctx = PageContext::new(language, &staff, "knowledge_title", "knowledge", notice);
    state.page(
        "knowledge.html",
        &ctx,
        json!({
            "due": due.iter().map(entry_row).collect::<Vec<_>>(),
            "entries": entries.iter().map(entry_row).collect::<Vec<_>>(),
            "q": params.q, "approved_only": filter.approved_only, "with_retired": filter.with_retired,
            "limit": LIST_LIMIT,
        }),
    )
}

#[derive(Deserialize, Default)]
pub(super) struct NewParams {
    case: Option<String>,
    outbox: Option<i64>,
}

/// A new entry: empty, or drafted from a reply sent on a case.
pub(super) async fn new_entry(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
    Query(params): Query<NewParams>,
) -> Result<Response, PanelError> {
    staff.must_triage()?;
    let (entry, removed, source_case) = match (&params.case, params.outbox) {
        (Some(case), Some(outbox)) => {
            let number = CaseNumber::parse(case).map_err(|_| PanelError::NotFound)?;
            let draft = match state
                .triage()
                .knowledge_draft(number, OutboxId(outbox), &[&staff.member.display_name])
                .await
            {
                Ok(d) => d,
                Err(crate::triage::TriageError::UnknownCase(_)) => {
                    return Err(PanelError::NotFound)
                }
                Err(e) => return Err(e.into()),
            };
            (draft.entry, draft.removed, number.to_string())
        }
        _ => (
            KnowledgeEntry {
                id: String::new(),
                department: None,
                subject: String::new(),
                text: String::new(),
                answer: String::new(),
                confirmed: false,
                approved: false,
                boundary: false,
            },
            Vec::new(),
            String::new(),
        ),
    };
    let ctx = PageContext::new(language, &staff, "new_entry", "knowledge", notice);
    state.page(
        "knowledge_entry.html",
        &ctx,
        json!({
            "is_new": true, "entry": entry_form(&entry), "findings": removed, "source_case": source_case,
            "departments": shareable_departments(&state), "review_by": null, "retired": false,
            "meta": null,
        }),
    )
}

/// An entry's fields as the form shows them.
fn entry_form(e: &KnowledgeEntry) -> serde_json::Value {
    json!({
        "id": e.id, "department": e.department, "subject": e.subject, "text": e.text,
        "answer": e.answer, "approved": e.approved,
    })
}

/// The departments whose cases may enter the knowledge base (never sensitive ones).
fn shareable_departments(state: &PanelState) -> Vec<serde_json::Value> {
    state
        .triage()
        .classifier()
        .rules()
        .departments()
        .filter(|d| !d.sensitive)
        .map(|d| json!({ "id": d.id.as_str(), "name": d.name }))
        .collect()
}

#[derive(Deserialize)]
pub(super) struct EntryForm {
    csrf: String,
    department: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    answer: String,
    #[serde(default)]
    review_by: String,
    approved: Option<String>,
    #[serde(default)]
    source_case: String,
}

/// Why a form cannot be saved, as an `error=` notice.
fn validate(state: &PanelState, form: &EntryForm) -> Result<Option<String>, &'static str> {
    let classifier = state.triage().classifier();
    if classifier.rules().department(&form.department).is_none() {
        return Err("unknown_department");
    }
    if classifier.is_sensitive(Some(&form.department)) {
        return Err("sensitive_entry");
    }
    if form.text.trim().is_empty() && form.answer.trim().is_empty() {
        return Err("entry_empty");
    }
    let review_by = form.review_by.trim();
    if review_by.is_empty() {
        return Ok(None);
    }
    time::Date::parse(
        review_by,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map(|d| Some(d.to_string()))
    .map_err(|_| "bad_date")
}

/// Saves an entry to the database and puts it in use in the index at once. The question
/// is always redacted again (a person may have pasted a citizen's words), and so is the
/// answer of an entry drafted from a case.
async fn save(
    state: &PanelState,
    staff: &Staff,
    id: String,
    form: EntryForm,
    review_by: Option<String>,
) -> Result<Response, PanelError> {
    let from_case = !form.source_case.is_empty();
    let names: Vec<&str> = vec![staff.member.display_name.as_str()];
    let limit = |s: &str| {
        s.replace("\r\n", "\n")
            .chars()
            .take(20_000)
            .collect::<String>()
    };
    let entry = KnowledgeEntry {
        id: id.clone(),
        department: Some(form.department.clone()),
        subject: crate::privacy::redact(&limit(form.subject.trim()), &names),
        text: crate::privacy::redact(&limit(form.text.trim()), &names),
        answer: if from_case {
            crate::privacy::redact(&limit(form.answer.trim()), &names)
        } else {
            limit(form.answer.trim())
        },
        confirmed: from_case,
        approved: form.approved.is_some(),
        boundary: false,
    };
    state
        .store()
        .save_knowledge_entry(&entry, review_by.as_deref(), &staff.member.username)
        .await?;
    let classifier = std::sync::Arc::clone(state.triage().classifier());
    let learned = tokio::task::spawn_blocking(move || classifier.update_entry(entry)).await??;
    if learned == Learned::NotShared {
        return Ok(see_other("/knowledge?error=sensitive_entry"));
    }
    Ok(see_other(&format!(
        "/knowledge/{}?done=saved",
        super::path_segment(&id)
    )))
}

/// Creates an entry (from a case: its id is the case number).
pub(super) async fn create(
    State(state): State<PanelState>,
    staff: Staff,
    Form(form): Form<EntryForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    staff.must_triage()?;
    let review_by = match validate(&state, &form) {
        Ok(r) => r,
        Err(e) => return Ok(see_other(&format!("/knowledge/new?error={e}"))),
    };
    let id = match CaseNumber::parse(form.source_case.trim()) {
        Ok(number) => number.to_string(),
        Err(_) if form.source_case.trim().is_empty() => {
            format!(
                "panel-{}-{}",
                crate::store::now(),
                &super::auth::random_token()[..6]
            )
        }
        Err(_) => return Err(PanelError::BadRequest("source case")),
    };
    save(&state, &staff, id, form, review_by).await
}

/// The edit page of one entry.
pub(super) async fn edit(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
    Path(id): Path<String>,
) -> Result<Response, PanelError> {
    staff.must_triage()?;
    let row = state
        .store()
        .knowledge_row(&id)
        .await?
        .ok_or(PanelError::NotFound)?;
    let ctx = PageContext::new(language, &staff, "entry", "knowledge", notice);
    state.page(
        "knowledge_entry.html",
        &ctx,
        json!({
            "is_new": false, "entry": entry_form(&row.entry), "findings": [], "source_case": "",
            "departments": shareable_departments(&state), "review_by": row.review_by,
            "retired": row.retired,
            "meta": { "origin": row.origin, "edited_by": row.edited_by,
                      "edited_at": row.edited_at.map(super::view::local_time) },
        }),
    )
}

/// Saves an edit.
pub(super) async fn update(
    State(state): State<PanelState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<EntryForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    staff.must_triage()?;
    if state.store().knowledge_row(&id).await?.is_none() {
        return Err(PanelError::NotFound);
    }
    let review_by = match validate(&state, &form) {
        Ok(r) => r,
        Err(e) => {
            return Ok(see_other(&format!(
                "/knowledge/{}?error={e}",
                super::path_segment(&id)
            )))
        }
    };
    save(&state, &staff, id, form, review_by).await
}

/// Retires an entry: out of suggestions, answers and the chat at once.
pub(super) async fn retire(
    State(state): State<PanelState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    staff.must_triage()?;
    if !state
        .store()
        .retire_knowledge_entry(&id, &staff.member.username)
        .await?
    {
        return Err(PanelError::NotFound);
    }
    state.triage().classifier().retire_entry(&id);
    Ok(see_other(&format!(
        "/knowledge/{}?done=retired",
        super::path_segment(&id)
    )))
}
