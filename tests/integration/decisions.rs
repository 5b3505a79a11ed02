//! A person's routing decision: the case moves and is forwarded, the decision is audited,
//! and the redacted enquiry teaches the classifier at once and after a restart, on SQLite
//! and PostgreSQL.

use crate::helpers;
use brevduva::app::Application;
use brevduva::domain::{CaseNumber, OutboxKind};
use brevduva::routing::Learned;
use brevduva::triage::{Outcome, StaffDecision, TriageError};

fn mail(id: &str, text: &str) -> Vec<u8> {
    format!(
        "From: Anna Svensson <anna.svensson@example.se>\r\nTo: kontaktcenter@kommun.example\r\n\
         Subject: Fråga om husbilen\r\nMessage-ID: <{id}@example.se>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\nMvh Anna Svensson\r\n070-123 45 67\r\n"
    )
    .into_bytes()
}

const ENQUIRY: &str =
    "Hej! Får jag ställa min husbil på infartsparkeringen vid Kvarnvägen över vintern, \
     och vem ska jag i så fall betala till? Mitt personnummer är 19121212-1212.";

async fn count(app: &Application, sql: &str) -> i64 {
    helpers::count(app, sql).await
}

async fn new_case(app: &Application, id: &str, text: &str) -> (CaseNumber, Option<String>) {
    match app.triage.process(mail(id, text), "test").await.unwrap() {
        Outcome::NewCase {
            number, department, ..
        } => (number, department),
        other => panic!("{other:?}"),
    }
}

async fn decisions_teach(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let app = helpers::app(dir.path(), database_url).await;
    let starter = app.triage.classifier().index().len();

    let (number, suggested) = new_case(&app, "first", ENQUIRY).await;
    // Whatever was suggested, a person decides the case belongs elsewhere.
    let target = if suggested.as_deref() == Some("naringsliv") {
        "gata-park"
    } else {
        "naringsliv"
    };
    let report = app
        .triage
        .decide(
            number,
            StaffDecision::Reroute {
                department: target.into(),
                reason: "Torgplatser och uppställning hyrs ut av näringslivsenheten".into(),
            },
            "handläggare-1",
        )
        .await
        .unwrap();
    assert_eq!(report.department, target);
    assert!(report.forwarded);
    assert_eq!(report.learned, Learned::Added);

    // The case, its decisions, the forward and the audit log.
    let case = app
        .store()
        .recent_cases(10)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.number == number)
        .unwrap();
    assert_eq!(case.status.as_str(), "routed");
    assert_eq!(case.department.as_deref(), Some(target));
    assert!(case.explanation.unwrap().contains("handläggare-1"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM routing_decisions WHERE decided_by = 'person'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'reroute' AND actor = 'handläggare-1'"
        )
        .await,
        1
    );
    let forwards: Vec<_> = app
        .store()
        .outbox_for_case(case.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == OutboxKind::Forward)
        .collect();
    let rules = app.triage.classifier().rules();
    let department = rules.department(target).unwrap();
    assert!(
        forwards
            .iter()
            .any(|f| f.recipient == department.forward_to.as_str()),
        "a forward to {target}"
    );

    // The knowledge entry is redacted: no name, personnummer or phone number.
    let learned = app.store().knowledge_changes().await.unwrap();
    assert_eq!(learned.len(), 1);
    let entry = &learned[0].0;
    assert_eq!(entry.id, number.to_string());
    assert_eq!(entry.department.as_deref(), Some(target));
    for secret in ["Svensson", "19121212-1212", "070-123 45 67"] {
        assert!(!entry.text.contains(secret), "{secret} in {:?}", entry.text);
    }
    assert!(entry.text.contains("[personnummer]"), "{:?}", entry.text);
    assert!(entry.text.contains("husbil"));
    assert_eq!(app.triage.classifier().index().len(), starter + 1);

    // The next similar mail benefits at once.
    let (_, next) = new_case(
        &app,
        "second",
        "Hej, kan jag ställa husbilen på infartsparkeringen vid Kvarnvägen i vinter? Vem betalar jag till?",
    )
    .await;
    assert_eq!(next.as_deref(), Some(target));

    // Deciding the same again neither forwards twice nor learns twice.
    let again = app
        .triage
        .decide(number, StaffDecision::Confirm, "handläggare-2")
        .await
        .unwrap();
    assert!(!again.forwarded);
    assert_eq!(again.learned, Learned::AlreadyKnown);

    // Mistakes are named, and change nothing.
    let unknown = CaseNumber::parse("KC-2026-999999").unwrap();
    assert!(matches!(
        app.triage
            .decide(unknown, StaffDecision::Confirm, "x")
            .await,
        Err(TriageError::UnknownCase(_))
    ));
    assert!(matches!(
        app.triage
            .decide(
                number,
                StaffDecision::Reroute {
                    department: "finns-inte".into(),
                    reason: String::new()
                },
                "x"
            )
            .await,
        Err(TriageError::UnknownDepartment(_))
    ));

    // Sensitive departments never teach the shared knowledge base.
    let (private, _) = new_case(
        &app,
        "third",
        "Jag behöver hjälp med min ekonomi och hyran.",
    )
    .await;
    let report = app
        .triage
        .decide(
            private,
            StaffDecision::Reroute {
                department: "socialtjanst".into(),
                reason: String::new(),
            },
            "handläggare-1",
        )
        .await
        .unwrap();
    assert_eq!(report.learned, Learned::NotShared);
    assert_eq!(app.store().knowledge_changes().await.unwrap().len(), 1);

    // After a restart the learned entry is part of the index (and of the model's training).
    app.store().close().await;
    drop(app);
    let restarted = helpers::app(dir.path(), database_url).await;
    assert_eq!(restarted.triage.classifier().index().len(), starter + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_forwards_audits_and_teaches_on_sqlite() {
    decisions_teach(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_forwards_audits_and_teaches_on_postgres() {
    let url = helpers::postgres_database().await;
    decisions_teach(Some(&url)).await;
}
