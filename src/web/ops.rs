//! For operations: `/readyz` (the database answers) and `/metrics` (Prometheus text: cases
//! waiting for triage and the age of the oldest, the outbox by state, each mailbox's
//! connection state, mails by outcome, the classification latency histogram). Counts only,
//! never personal data; `/metrics` answers clients on this machine, or anyone with the
//! configured bearer token.

use super::auth::{client_address, same_secret};
use super::{PanelError, PanelState};
use axum::extract::State;
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// Ready when the database answers.
pub(super) async fn ready(State(state): State<PanelState>) -> Response {
    match state.store().ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::error!(error = %e, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// A value made safe for a Prometheus label (no quotes, backslashes or line breaks).
fn label(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && *c != '\n')
        .collect()
}

/// The HELP and TYPE lines that open a gauge family.
fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// Prometheus metrics.
pub(super) async fn metrics(
    State(state): State<PanelState>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Response, PanelError> {
    let allowed = match &state.settings().metrics_token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| same_secret(given, token.expose())),
        None => client_address(&extensions).is_loopback(),
    };
    if !allowed {
        return Err(PanelError::Forbidden);
    }
    let store = state.store();
    let snapshot = store.operations_snapshot().await?;
    let mailboxes = store.mailbox_statuses().await?;
    let now = crate::store::now();
    let mut out = String::new();
    family(
        &mut out,
        "brevduva_cases_waiting_for_triage",
        "Cases waiting for a person at Kontaktcenter.",
    );
    let _ = writeln!(
        out,
        "brevduva_cases_waiting_for_triage {}",
        snapshot.triage_waiting
    );
    family(
        &mut out,
        "brevduva_oldest_triage_age_seconds",
        "Age of the oldest case waiting for triage.",
    );
    let _ = writeln!(
        out,
        "brevduva_oldest_triage_age_seconds {}",
        snapshot.oldest_triage_at.map_or(0, |at| (now - at).max(0))
    );
    family(
        &mut out,
        "brevduva_outbox_entries",
        "Outgoing mail by state.",
    );
    for status in ["pending", "sent", "dead", "discarded"] {
        let n = snapshot
            .outbox
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "brevduva_outbox_entries{{state=\"{status}\"}} {n}");
    }
    // Each family's lines stay together, as the text format requires.
    family(
        &mut out,
        "brevduva_mailbox_connected",
        "Whether a mailbox's last attempt succeeded (1) or it is unreachable (0).",
    );
    for m in &mailboxes {
        let _ = writeln!(
            out,
            "brevduva_mailbox_connected{{mailbox=\"{}\"}} {}",
            label(&m.mailbox),
            u8::from(m.state == "connected")
        );
    }
    family(
        &mut out,
        "brevduva_mailbox_last_success_timestamp_seconds",
        "When a mailbox was last read successfully (unix seconds).",
    );
    for m in &mailboxes {
        if let Some(at) = m.last_success_at {
            let _ = writeln!(
                out,
                "brevduva_mailbox_last_success_timestamp_seconds{{mailbox=\"{}\"}} {at}",
                label(&m.mailbox)
            );
        }
    }
    family(
        &mut out,
        "brevduva_mailbox_lease_remaining_seconds",
        "Which instance reads each mailbox, and how long its lease has left (negative: ran out, waiting for another instance).",
    );
    for lease in store.leases().await? {
        let _ = writeln!(
            out,
            "brevduva_mailbox_lease_remaining_seconds{{mailbox=\"{}\",instance=\"{}\"}} {}",
            label(&lease.mailbox),
            label(&lease.holder),
            lease.expires_in
        );
    }
    state.triage().metrics().render(&mut out);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
