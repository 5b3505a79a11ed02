//! For admins: a person's data export and erasure, the audit log, and legal holds.

use super::auth::Staff;
use super::{see_other, Lang, Notice, PageContext, PanelError, PanelState};
use axum::extract::{Form, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

fn must_administer(staff: &Staff) -> Result<(), PanelError> {
    if staff.member.may_administer() {
        Ok(())
    } else {
        Err(PanelError::Forbidden)
    }
}

/// The export and erasure forms.
pub(super) async fn page(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
) -> Result<Response, PanelError> {
    must_administer(&staff)?;
    let ctx = PageContext::new(language, &staff, "privacy_title", "privacy", notice);
    state.page("privacy.html", &ctx, json!({ "report": null }))
}

#[derive(Deserialize)]
pub(super) struct PersonForm {
    csrf: String,
    #[serde(default)]
    email: String,
    sure: Option<String>,
}

/// Everything about an address as a tar archive, recorded in the audit log.
pub(super) async fn export(
    State(state): State<PanelState>,
    staff: Staff,
    Form(form): Form<PersonForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    must_administer(&staff)?;
    let archive =
        match crate::records::export_person(state.store(), &form.email, &staff.member.username)
            .await
        {
            Ok(a) => a,
            Err(crate::records::RecordsError::BadAddress(_)) => {
                return Ok(see_other("/privacy?error=bad_email"))
            }
            Err(crate::records::RecordsError::Store(e)) => return Err(e.into()),
        };
    let day = crate::domain::working_days::swedish_today();
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"registerutdrag-{day}.tar\""),
            ),
        ],
        archive,
    )
        .into_response())
}

/// Erases everything about an address (asks for a tick first), and shows what it did.
pub(super) async fn erase(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    Form(form): Form<PersonForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    must_administer(&staff)?;
    if form.sure.is_none() {
        return Ok(see_other("/privacy?error=not_sure"));
    }
    let classifier = state.triage().classifier();
    let report = match crate::records::erase_person(
        state.store(),
        Some(classifier),
        &form.email,
        &staff.member.username,
    )
    .await
    {
        Ok(r) => r,
        Err(crate::records::RecordsError::BadAddress(_)) => {
            return Ok(see_other("/privacy?error=bad_email"))
        }
        Err(crate::records::RecordsError::Store(e)) => return Err(e.into()),
    };
    state.counts_changed();
    let ctx = PageContext::new(
        language,
        &staff,
        "privacy_title",
        "privacy",
        Notice::default(),
    );
    state.page("privacy.html", &ctx, json!({ "report": report }))
}

#[derive(Deserialize, Default)]
pub(super) struct AuditParams {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    case: String,
    #[serde(default)]
    action: String,
}

/// The audit log, searchable by who, case and event.
pub(super) async fn audit(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
    Query(params): Query<AuditParams>,
) -> Result<Response, PanelError> {
    must_administer(&staff)?;
    fn some(s: &str) -> Option<&str> {
        Some(s.trim()).filter(|s| !s.is_empty() && s.len() <= 100)
    }
    let case = params.case.to_uppercase();
    let rows = state
        .store()
        .search_audit(some(&params.actor), some(&case), some(&params.action), 500)
        .await?;
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({ "when": super::view::local_time(r.at), "actor": r.actor, "action": r.action,
                    "case_number": r.case_number, "detail": r.detail })
        })
        .collect();
    let ctx = PageContext::new(language, &staff, "audit_title", "audit", notice);
    state.page(
        "audit.html",
        &ctx,
        json!({ "rows": rows, "actor": params.actor, "case": params.case, "action": params.action }),
    )
}

#[derive(Deserialize)]
pub(super) struct HoldForm {
    csrf: String,
    #[serde(default)]
    on: String,
}

/// Puts a legal hold on a case or lifts it.
pub(super) async fn hold(
    State(state): State<PanelState>,
    staff: Staff,
    Path(number): Path<String>,
    Form(form): Form<HoldForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    must_administer(&staff)?;
    let number = crate::domain::CaseNumber::parse(&number).map_err(|_| PanelError::NotFound)?;
    let (id, _, _) = state
        .store()
        .case_summary(number)
        .await?
        .ok_or(PanelError::NotFound)?;
    state
        .store()
        .set_legal_hold(id, form.on == "1", &staff.member.username)
        .await?;
    Ok(see_other(&format!("/cases/{number}?done=hold")))
}
