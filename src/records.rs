//! A person's rights and the municipality's retention, carried out on the stored data:
//! export everything held about an address, erase it everywhere, and run the retention
//! rules. Each is recorded in the audit log (an erased address only as a hash).
//!
//! store -> privacy::retention (decides) -> store (carries out)

use crate::config::RetentionRule;
use crate::privacy::archive::TarArchive;
use crate::privacy::retention::{plan, RetentionAction, RetentionStep};
use crate::routing::Classifier;
use crate::store::{PersonCase, Store, StoreError};
use serde::Serialize;
use sha2::Digest;
use std::fmt::Write;

/// Errors of the records operations.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The address is not an email address.
    #[error("{0:?} is not an email address")]
    BadAddress(String),
}

/// What an erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    /// Cases anonymised (their content removed too).
    pub cases_erased: Vec<String>,
    /// Cases left alone because of a legal hold.
    pub cases_on_hold: Vec<String>,
    /// Of the erased cases, those registered as allmän handling: their registry metadata
    /// (subject and sender) stays, as the law on public records requires.
    pub registry_metadata_kept: Vec<String>,
}

/// A short, one-way name for an address, for the audit log.
fn address_hash(address: &str) -> String {
    sha2::Sha256::digest(address.trim().to_lowercase().as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn checked(address: &str) -> Result<String, RecordsError> {
    crate::domain::EmailAddress::parse(address.trim())
        .map(|a| a.to_string())
        .map_err(|_| RecordsError::BadAddress(address.to_owned()))
}

/// Everything held about an address, as one tar archive: a readable summary in Swedish and
/// English, and per case its facts, messages as received (.eml, attachments inside),
/// notes, decisions, outgoing mail and chat questions.
pub async fn export_person(
    store: &Store,
    address: &str,
    actor: &str,
) -> Result<Vec<u8>, RecordsError> {
    let address = checked(address)?;
    let now = crate::store::now();
    let cases = store.cases_of_person(&address).await?;
    let mut tar = TarArchive::new();
    let mut summary = String::new();
    let _ = writeln!(
        summary,
        "Registerutdrag / Data export\n\nAdress / Address: {address}\nSkapat / Created: {}\n\
         Ärenden / Cases: {}\n",
        crate::domain::working_days::local_time(now),
        cases.len()
    );
    if cases.is_empty() {
        summary.push_str("Brevduva har inga uppgifter om denna adress.\nBrevduva holds nothing about this address.\n");
    }
    for PersonCase {
        id: case, number, ..
    } in &cases
    {
        let Some(number_parsed) = crate::domain::CaseNumber::parse(number).ok() else {
            continue;
        };
        let Some(detail) = store.case_detail(number_parsed).await? else {
            continue;
        };
        let _ = writeln!(
            summary,
            "{number}: {} – {} ({}), {} meddelanden/messages, {} anteckningar/notes, {} utgående/outgoing",
            crate::domain::working_days::local_time(detail.case.created_at),
            if detail.case.subject.is_empty() { "–" } else { &detail.case.subject },
            detail.case.department.as_deref().unwrap_or("–"),
            detail.messages.len(),
            detail.notes.len(),
            detail.outgoing.len(),
        );
        let json = serde_json::to_vec_pretty(&detail).unwrap_or_default();
        tar.add(&format!("{number}/arende.json"), &json, now);
        for m in &detail.messages {
            if let Some(raw) = store.message_raw(*case, m.id).await? {
                tar.add(
                    &format!("{number}/meddelande-{}.eml", m.id),
                    &raw,
                    m.received_at,
                );
            }
        }
        for (id, kind, raw) in store.outbox_raws(*case).await? {
            tar.add(&format!("{number}/utgaende-{id}-{kind}.eml"), &raw, now);
        }
        let questions = store.chat_questions_of_case(number).await?;
        if !questions.is_empty() {
            let text: String = questions
                .iter()
                .map(|(at, q)| {
                    format!(
                        "{}\t{}\n",
                        crate::domain::working_days::local_time(*at),
                        q.as_deref().unwrap_or("(borttagen / removed)")
                    )
                })
                .collect();
            tar.add(&format!("{number}/chatt.txt"), text.as_bytes(), now);
        }
    }
    tar.add("sammanfattning.txt", summary.as_bytes(), now);
    store
        .audit(
            actor,
            "privacy-export",
            None,
            &format!("address {} ({} cases)", address_hash(&address), cases.len()),
        )
        .await?;
    for case in &cases {
        store
            .audit(actor, "privacy-export", Some(case.id), "")
            .await?;
    }
    Ok(tar.finish())
}

/// Removes or anonymises everything held about an address: every case that holds it is
/// anonymised (content, addresses, subjects, outgoing mail, chat questions, what it taught
/// the knowledge index), unless it is on legal hold. Cases registered as allmän handling
/// keep the registry's metadata. A running classifier drops the learned entries at once;
/// the index on disk is rebuilt without them at the next start.
pub async fn erase_person(
    store: &Store,
    classifier: Option<&Classifier>,
    address: &str,
    actor: &str,
) -> Result<ErasureReport, RecordsError> {
    let address = checked(address)?;
    let mut report = ErasureReport::default();
    for case in store.cases_of_person(&address).await? {
        let (number, registered) = (case.number, case.registered);
        if case.legal_hold {
            report.cases_on_hold.push(number);
            continue;
        }
        store
            .anonymise_case(case.id, registered, true, actor, "erasure on request")
            .await?;
        if let Some(c) = classifier {
            c.retire_entry(&number);
        }
        if registered {
            report.registry_metadata_kept.push(number.clone());
        }
        report.cases_erased.push(number);
    }
    store
        .audit(
            actor,
            "privacy-erase",
            None,
            &format!(
                "address {}: {} cases erased, {} on legal hold",
                address_hash(&address),
                report.cases_erased.len(),
                report.cases_on_hold.len()
            ),
        )
        .await?;
    Ok(report)
}

/// Runs the retention rules now; with `dry_run` only says what would happen.
pub async fn run_retention(
    store: &Store,
    classifier: Option<&Classifier>,
    rules: &[RetentionRule],
    dry_run: bool,
    actor: &str,
) -> Result<Vec<RetentionAction>, RecordsError> {
    let cases = store.retention_cases().await?;
    let actions = plan(&cases, rules, crate::store::now());
    if dry_run {
        return Ok(actions);
    }
    for a in &actions {
        let case = crate::domain::CaseId(a.case_id);
        let why = format!("retention after {} days", a.age_days);
        match a.step {
            RetentionStep::RemoveContent => store.remove_case_content(case, actor, &why).await?,
            RetentionStep::Anonymise => {
                store
                    .anonymise_case(case, a.keeps_registry_metadata, false, actor, &why)
                    .await?;
                if let Some(c) = classifier {
                    c.retire_entry(&a.number);
                }
            }
        }
    }
    Ok(actions)
}
