//! The outbox and the mailboxes: mail that could not be delivered, with the server's
//! answer, to send again or discard; and each mailbox's connection state.

use super::auth::Staff;
use super::{see_other, Lang, Notice, PageContext, PanelError, PanelState, TokenForm};
use crate::domain::OutboxId;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use serde_json::json;

/// Dead letters and mailboxes.
pub(super) async fn outbox(
    State(state): State<PanelState>,
    staff: Staff,
    Lang(language): Lang,
    notice: Notice,
) -> Result<Response, PanelError> {
    staff.must_triage()?;
    let store = state.store();
    let dead = store.dead_letters(200).await?;
    let mut rows = Vec::new();
    for (entry, error) in &dead {
        let number = store.case_number(entry.case_id).await?;
        rows.push(json!({
            "id": entry.id.0, "number": number, "kind": entry.kind.as_str(),
            "recipient": entry.recipient, "attempts": entry.attempts,
            "error": error, "created": super::view::local_time(entry.created_at),
        }));
    }
    let leases = store.leases().await?;
    let mailboxes: Vec<_> = store
        .mailbox_statuses()
        .await?
        .into_iter()
        .map(|m| {
            let reader = leases
                .iter()
                .find(|l| l.mailbox == m.mailbox && l.expires_in >= 0)
                .map(|l| l.holder.clone());
            json!({
                "mailbox": m.mailbox, "state": m.state, "reader": reader,
                "last_success": m.last_success_at.map(super::view::local_time),
                "failing_since": m.failing_since.map(super::view::local_time),
                "last_error": m.last_error,
            })
        })
        .collect();
    let ctx = PageContext::new(language, &staff, "outbox_title", "outbox", notice);
    state.page(
        "outbox.html",
        &ctx,
        json!({
            "dead": rows, "mailboxes": mailboxes,
            "pending": store.pending_outbox_count().await?,
            "may_act": staff.member.may_triage(),
        }),
    )
}

/// Puts a dead letter back in the queue.
pub(super) async fn retry(
    State(state): State<PanelState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    staff.must_triage()?;
    let n = state
        .store()
        .retry_dead(Some(OutboxId(id)), crate::store::now())
        .await?;
    if n == 0 {
        return Err(PanelError::NotFound);
    }
    state
        .store()
        .audit(
            &staff.member.username,
            "outbox-retry",
            None,
            &id.to_string(),
        )
        .await?;
    state.triage().outbox_ready().notify_one();
    Ok(see_other("/outbox?done=retry"))
}

/// Discards a dead letter (kept on record, never sent).
pub(super) async fn discard(
    State(state): State<PanelState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(form): Form<TokenForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    staff.must_triage()?;
    if !state
        .store()
        .discard_dead(OutboxId(id), &staff.member.username)
        .await?
    {
        return Err(PanelError::NotFound);
    }
    Ok(see_other("/outbox?done=discard"))
}
