//! The routing rules: each department's file, a test of any text against the rules and the
//! whole classifier ("why would this go to bygg-miljo?"), and editing with validation and
//! reload for admins.

use super::auth::Staff;
use super::{see_other, Lang, Notice, PageContext, PanelError, PanelState};
use crate::domain::EmailAddress;
use crate::routing::{Enquiry, RoutingRules};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;

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
            "test_recipient": recipient, "may_edit": may_edit(&state, &staff),
        }),
    )
}

fn may_edit(state: &PanelState, staff: &Staff) -> bool {
    staff.member.may_administer() && state.settings().rules_dir.is_some()
}

/// The rule files in use, as (path, text): the configured folder or the embedded ones.
fn rule_files(state: &PanelState) -> Result<Vec<(PathBuf, String)>, PanelError> {
    Ok(match &state.settings().rules_dir {
        Some(dir) => crate::defaults::read_folder(dir, "toml")?,
        None => crate::defaults::routing_rules(),
    })
}

/// The file of a department: named by its id (`bygg-miljo.toml`).
fn file_of(files: &[(PathBuf, String)], department: &str) -> Option<usize> {
    files
        .iter()
        .position(|(p, _)| p.file_stem().and_then(|s| s.to_str()) == Some(department))
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
    let files = rule_files(&state)?;
    let i = file_of(&files, &department).ok_or(PanelError::NotFound)?;
    render_file(&state, &staff, language, notice, d, &files[i], &[])
}

fn render_file(
    state: &PanelState,
    staff: &Staff,
    language: super::PanelLanguage,
    notice: Notice,
    department: &crate::routing::Department,
    (path, source): &(PathBuf, String),
    problems: &[String],
) -> Result<Response, PanelError> {
    let edit_note = if state.settings().rules_dir.is_none() {
        state.word(language, "rules_read_only")
    } else {
        state.word(language, "rules_admin_only")
    };
    let ctx = PageContext::new(language, staff, "rules_title", "rules", notice);
    state.page(
        "rule_file.html",
        &ctx,
        json!({
            "department": { "id": department.id.as_str(), "name": department.name },
            "source": source,
            "file_name": path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
            "may_edit": may_edit(state, staff),
            "edit_note": edit_note,
            "problems": problems,
        }),
    )
}

#[derive(Deserialize)]
pub(super) struct RuleForm {
    csrf: String,
    source: String,
}

/// Checks an edited file together with all the others; when everything is valid, writes
/// it (atomically) and puts the new rules in use. Otherwise the file is shown again with
/// every problem and its line, and nothing changes.
pub(super) async fn save_rule_file(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    Path(department): Path<String>,
    Form(form): Form<RuleForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    if !may_edit(&state, &staff) {
        return Err(PanelError::Forbidden);
    }
    let current = state.triage().classifier().rules();
    let d = current
        .department(&department)
        .ok_or(PanelError::NotFound)?
        .clone();
    let mut files = rule_files(&state)?;
    let i = file_of(&files, &department).ok_or(PanelError::NotFound)?;
    let source = form.source.replace("\r\n", "\n");
    files[i].1 = source.clone();
    let checked = RoutingRules::parse_files(&files)
        .map_err(|p| p.0.iter().map(|p| p.to_string()).collect::<Vec<_>>());
    let checked = checked.and_then(|rules| {
        if rules
            .department(&state.settings().fallback_department)
            .is_none()
        {
            return Err(vec![format!(
                "no rules for the fallback department {:?}",
                state.settings().fallback_department
            )]);
        }
        if rules.department(&department).is_none() {
            return Err(vec![format!("the file must keep the id {department:?}")]);
        }
        Ok(rules)
    });
    let rules = match checked {
        Ok(rules) => rules,
        Err(problems) => {
            let mut response = render_file(
                &state,
                &staff,
                language,
                Notice::default(),
                &d,
                &files[i],
                &problems,
            )?;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(response);
        }
    };
    let departments: Vec<_> = rules.departments().cloned().collect();
    if let Err(problem) = state.triage().classifier().replace_rules(rules) {
        let mut response = render_file(
            &state,
            &staff,
            language,
            Notice::default(),
            &d,
            &files[i],
            &[problem],
        )?;
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(response.into_response());
    }
    let path = files[i].0.clone();
    let tmp = path.with_extension("toml.saving");
    tokio::fs::write(&tmp, source.as_bytes()).await?;
    tokio::fs::rename(&tmp, &path).await?;
    state.store().sync_departments(&departments).await?;
    state
        .store()
        .audit(&staff.member.username, "rules-edited", None, &department)
        .await?;
    Ok(see_other(&format!("/rules/{department}?done=rules_saved")))
}
