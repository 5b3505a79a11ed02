//! The routing rules: each department's file, a test of any text against the rules and the
//! whole classifier ("why would this go to bygg-miljo?"), and editing with validation and
//! reload for admins.

use super::auth::Staff;
use super::view::local_time;
use super::{see_other, Lang, Notice, PageContext, PanelError, PanelState};
use crate::domain::EmailAddress;
use crate::routing::edits::{self, RuleFile};
use crate::routing::Enquiry;
use crate::store::RuleEdit;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, Default)]
pub(super) struct TestParams {
    #[serde(default)]
    text: String,
    #[serde(default)]
    recipient: String,
}

/// The departments and the rule test.
pub(super) async fn overview(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
    Query(params): Query<TestParams>,
) -> Result<Response, PanelError> {
    staff.must_triage()?;
    let classifier = std::sync::Arc::clone(state.triage().classifier());
    let rules = classifier.rules();
    let text: String = params.text.chars().take(20_000).collect();
    let recipient = params.recipient.trim().to_owned();
    let result = if text.trim().is_empty() {
        None
    } else {
        let recipients: Vec<EmailAddress> = EmailAddress::parse(&recipient).into_iter().collect();
        let analysed_text = text.clone();
        let c = tokio::task::spawn_blocking(move || {
            classifier.classify(Enquiry {
                text: &analysed_text,
                sender: None,
                recipients: &recipients,
            })
        })
        .await??;
        let threshold = state.triage().classifier().settings().auto_route_threshold;
        Some(json!({
            "department": c.department(),
            "confidence": format!("{:.0} %", c.confidence * 100.0),
            "auto": c.department().is_some() && c.confidence >= threshold,
            "explanation": c.explanation(),
            "rules": c.rules.matches.iter().map(|m| {
                let mut matched: Vec<String> = m.keywords.iter().map(|(k, w)| format!("{k} ({w:.1})")).collect();
                matched.extend(m.patterns.iter().cloned());
                json!({ "department": m.department.as_str(), "matched": matched.join(", "), "score": format!("{:.1}", m.score) })
            }).collect::<Vec<_>>(),
        }))
    };
    let departments: Vec<_> = rules
        .departments()
        .map(|d| {
            json!({ "id": d.id.as_str(), "name": d.name, "forward_to": d.forward_to.as_str(), "sensitive": d.sensitive })
        })
        .collect();
    let ctx = PageContext::new(language, &staff, "rules_title", "rules", notice);
    state.page(
        "rules.html",
        &ctx,
        json!({
            "departments": departments, "result": result, "test_text": text,
            "test_recipient": recipient, "may_edit": may_edit(&staff),
        }),
    )
}

fn may_edit(staff: &Staff) -> bool {
    staff.member.may_administer()
}

/// A department's rule file as in use, and what the panel knows about it.
struct FileInUse {
    file: RuleFile,
    /// The edit in the panel that takes the place of the file, if any.
    edit: Option<RuleEdit>,
    /// Whether that edit no longer fits the files and the file's rules apply instead.
    left_out: bool,
}

/// The rule files (configured folder or embedded) and the panel's current edits, read
/// once per request.
struct RuleSources {
    base: Vec<RuleFile>,
    stored: Vec<RuleEdit>,
}

impl RuleSources {
    async fn read(state: &PanelState) -> Result<Self, PanelError> {
        Ok(Self {
            base: crate::defaults::rule_files(state.settings().rules_dir.as_deref())?,
            stored: state.store().current_rule_edits().await?,
        })
    }

    /// The stored edits as (department, text), leaving out one department's.
    fn edits_but(&self, department: &str) -> Vec<(&str, &str)> {
        self.stored
            .iter()
            .filter(|e| e.department != department)
            .map(|e| (e.department.as_str(), e.source.as_str()))
            .collect()
    }

    /// The department's file, with the text edited in the panel in its place when there
    /// is one that fits.
    fn file_in_use(&self, department: &str, fallback: &str) -> Result<FileInUse, PanelError> {
        let i = edits::file_of(&self.base, department).ok_or(PanelError::NotFound)?;
        let mut file = self.base[i].clone();
        let edit = self
            .stored
            .iter()
            .find(|e| e.department == department)
            .cloned();
        let left_out = match &edit {
            None => false,
            Some(edit) => {
                let mut all = self.edits_but(department);
                all.push((department, &edit.source));
                let (_, left_out) = edits::effective(&self.base, &all, fallback)
                    .map_err(|problems| PanelError::Rules(problems.join("; ")))?;
                let left_out = left_out.contains(&department);
                if !left_out {
                    file.1 = edit.source.clone();
                }
                left_out
            }
        };
        Ok(FileInUse {
            file,
            edit,
            left_out,
        })
    }
}

/// One department's rule file.
pub(super) async fn rule_file(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
    Path(department): Path<String>,
) -> Result<Response, PanelError> {
    staff.must_triage()?;
    let rules = state.triage().classifier().rules();
    let d = rules.department(&department).ok_or(PanelError::NotFound)?;
    let in_use = RuleSources::read(&state)
        .await?
        .file_in_use(&department, &state.settings().fallback_department)?;
    render_file(&state, &staff, language, notice, d, &in_use, None).await
}

/// A text a person sent that was not saved: shown again with its problems.
struct Refused<'a> {
    text: &'a str,
    problems: Vec<String>,
}

async fn render_file(
    state: &PanelState,
    staff: &Staff,
    language: super::PanelLanguage,
    notice: Notice,
    department: &crate::routing::Department,
    in_use: &FileInUse,
    refused: Option<Refused<'_>>,
) -> Result<Response, PanelError> {
    let (path, source) = &in_use.file;
    let history: Vec<_> = state
        .store()
        .rule_history(department.id.as_str(), 10)
        .await?
        .into_iter()
        .map(|v| {
            json!({
                "edited_by": v.edited_by,
                "edited_at": local_time(v.edited_at),
                "reverted": v.reverted,
            })
        })
        .collect();
    let ctx = PageContext::new(language, staff, "rules_title", "rules", notice);
    state.page(
        "rule_file.html",
        &ctx,
        json!({
            "department": { "id": department.id.as_str(), "name": department.name },
            "source": refused.as_ref().map_or(source.as_str(), |r| r.text),
            "file_name": path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
            "edit": in_use.edit.as_ref().map(|e| json!({
                "edited_by": e.edited_by,
                "edited_at": local_time(e.edited_at),
            })),
            "left_out": in_use.left_out,
            "history": history,
            "may_edit": may_edit(staff),
            "problems": refused.as_ref().map(|r| r.problems.as_slice()).unwrap_or_default(),
        }),
    )
}

#[derive(Deserialize)]
pub(super) struct RuleForm {
    csrf: String,
    source: String,
}

/// Checks an edited file together with all the others in use; when everything is valid,
/// saves it in the database (every version is kept, and every instance sharing the
/// database takes it up) and puts the new rules in use here at once. Otherwise the text is
/// shown again with every problem and its line, and nothing changes.
pub(super) async fn save_rule_file(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    Path(department): Path<String>,
    Form(form): Form<RuleForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    if !may_edit(&staff) {
        return Err(PanelError::Forbidden);
    }
    let source = form.source.replace("\r\n", "\n");
    put_in_use(&state, &staff, language, &department, Some(source)).await
}

#[derive(Deserialize)]
pub(super) struct RevertForm {
    csrf: String,
}

/// Gives a department its rule file back: the edits made in the panel stay on record but
/// no longer apply.
pub(super) async fn revert_rule_file(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    Path(department): Path<String>,
    Form(form): Form<RevertForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    if !may_edit(&staff) {
        return Err(PanelError::Forbidden);
    }
    put_in_use(&state, &staff, language, &department, None).await
}

/// Saves a department's edited text (`Some`) or gives its file back (`None`), after
/// checking the rules that would result; shows the problems instead when there are any.
async fn put_in_use(
    state: &PanelState,
    staff: &Staff,
    language: super::PanelLanguage,
    department: &str,
    source: Option<String>,
) -> Result<Response, PanelError> {
    let classifier = state.triage().classifier();
    let current = classifier.rules();
    let d = current
        .department(department)
        .ok_or(PanelError::NotFound)?
        .clone();
    let settings = state.settings();
    let sources = RuleSources::read(state).await?;
    let in_use = sources.file_in_use(department, &settings.fallback_department)?;
    if source.is_none() && in_use.edit.is_none() {
        // The file applies already (a form sent twice): nothing to record.
        return Ok(see_other(&format!(
            "/rules/{department}?done=rules_reverted"
        )));
    }
    let base = &sources.base;
    let mut edits = sources.edits_but(department);
    if let Some(source) = &source {
        edits.push((department, source));
    }
    let checked = edits::effective(base, &edits, &settings.fallback_department).and_then(
        |(rules, left_out)| {
            // The edit itself must fit; older edits that no longer do are reported on
            // their own pages.
            if let Some(text) = source.as_deref().filter(|_| left_out.contains(&department)) {
                // Its own problems, not those of older edits that no longer fit.
                let (files, _) = edits::with_edits(base.clone(), [(department, text)]);
                let problems = edits::check(&files, &settings.fallback_department)
                    .err()
                    .unwrap_or_else(|| vec!["the file does not fit the other rule files".into()]);
                return Err(problems);
            }
            if !rules.same_departments(&current) {
                return Err(vec![
                    "departments were added or removed: restart Brevduva to use them".into(),
                ]);
            }
            Ok(rules)
        },
    );
    let rules = match checked {
        Ok(rules) => rules,
        Err(problems) => {
            let mut response = render_file(
                state,
                staff,
                language,
                Notice::default(),
                &d,
                &in_use,
                Some(Refused {
                    text: source.as_deref().unwrap_or(&in_use.file.1),
                    problems,
                }),
            )
            .await?;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(response);
        }
    };
    let departments: Vec<_> = rules.departments().cloned().collect();
    state
        .store()
        .save_rule_edit(department, source.as_deref(), &staff.member.username)
        .await?;
    classifier.replace_rules(rules).map_err(PanelError::Rules)?;
    state.store().sync_departments(&departments).await?;
    let done = if source.is_some() {
        "rules_saved"
    } else {
        "rules_reverted"
    };
    Ok(see_other(&format!("/rules/{department}?done={done}")))
}
