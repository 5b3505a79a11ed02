//! Privacy and records on real databases: retention over three years of cases (legal hold,
//! registered cases), export then erase then export again, the index and the chat after an
//! erasure, the read audit for every way into a case, and no outbound connection.

use crate::helpers;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use brevduva::app::Application;
use brevduva::config::RetentionRule;
use brevduva::domain::{CaseNumber, Role};
use brevduva::privacy::retention::RetentionStep;
use brevduva::triage::{Outcome, StaffDecision};
use brevduva::web::{router, PanelSettings, PanelState};
use tower::ServiceExt;

const DAY: i64 = 86_400;

fn mail(i: usize, from: &str, text: &str) -> Vec<u8> {
    format!(
        "From: Person {i} <{from}>\r\nTo: kontaktcenter@kommun.example\r\nSubject: Fråga {i}\r\n\
         Message-ID: <privacy{i}@example.se>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         {text}\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"underlag.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    )
    .into_bytes()
}

async fn case(app: &Application, raw: Vec<u8>) -> CaseNumber {
    match app.triage.process(raw, "test").await.unwrap() {
        Outcome::NewCase { number, .. } => number,
        other => panic!("expected a new case: {other:?}"),
    }
}

async fn age(app: &Application, number: CaseNumber, days: i64) {
    sqlx::query("UPDATE cases SET created_at = $1, updated_at = $1 WHERE number = $2")
        .bind(brevduva::store::now() - days * DAY)
        .bind(number.to_string())
        .execute(app.store().pool())
        .await
        .unwrap();
}

async fn retention_over_three_years(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = helpers::config(dir.path(), database_url);
    config.retention = vec![
        RetentionRule {
            department: "*".into(),
            category: "*".into(),
            remove_content_after_days: Some(365),
            anonymise_after_days: Some(1095),
        },
        RetentionRule {
            department: "socialtjanst".into(),
            category: "*".into(),
            remove_content_after_days: Some(90),
            anonymise_after_days: Some(180),
        },
    ];
    let app = Application::build(config.clone()).await.unwrap();
    let store = app.store();
    // Ages spread over three years; days since last activity.
    let mut cases = Vec::new();
    for (i, days) in [10, 200, 400, 800, 1000, 1100, 1200, 50, 100, 200]
        .into_iter()
        .enumerate()
    {
        let text = if i >= 7 {
            "Jag vill göra en orosanmälan till socialtjänsten om ett barn som far illa."
        } else {
            "Hej! Gatlampan utanför vårt hus på Storgatan har varit trasig i en månad."
        };
        let number = case(&app, mail(i, &format!("person{i}@example.se"), text)).await;
        age(&app, number, days).await;
        cases.push(number);
    }
    // One old case is under legal hold; one is registered as allmän handling.
    let id = |n: CaseNumber| async move { store.case_summary(n).await.unwrap().unwrap().0 };
    store
        .set_legal_hold(id(cases[6]).await, true, "admin")
        .await
        .unwrap();
    store
        .mark_registered(id(cases[5]).await, "admin")
        .await
        .unwrap();
    age(&app, cases[5], 1100).await;
    age(&app, cases[6], 1200).await;

    let dry = brevduva::records::run_retention(store, None, &config.retention, true, "retention")
        .await
        .unwrap();
    let planned: Vec<(String, RetentionStep)> =
        dry.iter().map(|a| (a.number.clone(), a.step)).collect();
    let expected = vec![
        (cases[2].to_string(), RetentionStep::RemoveContent),
        (cases[3].to_string(), RetentionStep::RemoveContent),
        (cases[4].to_string(), RetentionStep::RemoveContent),
        (cases[5].to_string(), RetentionStep::Anonymise),
        (cases[8].to_string(), RetentionStep::RemoveContent),
        (cases[9].to_string(), RetentionStep::Anonymise),
    ];
    assert_eq!(planned, expected);
    let untouched = store.case_detail(cases[2]).await.unwrap().unwrap();
    assert!(
        !untouched.messages[0].body_text.is_empty(),
        "a dry run changes nothing"
    );

    brevduva::records::run_retention(store, None, &config.retention, false, "retention")
        .await
        .unwrap();
    let detail = |n: CaseNumber| async move { store.case_detail(n).await.unwrap().unwrap() };
    // Young cases keep everything.
    let young = detail(cases[0]).await;
    assert!(young.messages[0].body_text.contains("Gatlampan"));
    assert_eq!(young.citizen_address.as_deref(), Some("person0@example.se"));
    // Content removed: no body, no attachment, no raw mail; the person is still named.
    let emptied = detail(cases[3]).await;
    assert!(emptied.messages[0].body_text.is_empty() && emptied.messages[0].attachments.is_empty());
    assert_eq!(
        store
            .message_raw(emptied.case.id, emptied.messages[0].id)
            .await
            .unwrap(),
        Some(Vec::new())
    );
    assert!(emptied.outgoing.iter().all(|o| o.text.is_none()));
    assert_eq!(
        emptied.citizen_address.as_deref(),
        Some("person3@example.se")
    );
    // Anonymised: number, department, dates stay; the person and the subject go.
    let gone = detail(cases[9]).await;
    assert_eq!(gone.citizen_address, None);
    assert_eq!(gone.case.subject, "");
    assert_eq!(gone.messages[0].from_address, None);
    assert_eq!(gone.case.department.as_deref(), Some("socialtjanst"));
    assert!(gone
        .outgoing
        .iter()
        .all(|o| o.recipient.is_empty() || o.kind == "forward"));
    // Registered: anonymised, but the registry's metadata stays.
    let registered = detail(cases[5]).await;
    assert!(registered.messages[0].body_text.is_empty());
    assert_eq!(
        registered.citizen_address.as_deref(),
        Some("person5@example.se")
    );
    assert_eq!(registered.case.subject, "Fråga 5");
    // Legal hold: untouched after 1,200 days.
    let held = detail(cases[6]).await;
    assert!(held.legal_hold && held.messages[0].body_text.contains("Gatlampan"));
    // Nothing is done twice; the statistics still count every case.
    let again = brevduva::records::run_retention(store, None, &config.retention, true, "retention")
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(store.counts().await.unwrap().cases, 10);
    let audit: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('content-removed', 'anonymised')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(audit, 6);
}

#[tokio::test]
async fn retention_over_three_years_on_sqlite() {
    retention_over_three_years(None).await;
}

#[tokio::test]
async fn retention_over_three_years_on_postgres() {
    let url = helpers::postgres_database().await;
    retention_over_three_years(Some(&url)).await;
}

fn tar_names(archive: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.tar");
    std::fs::write(&file, archive).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn export_erase_export(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(helpers::config(dir.path(), database_url))
        .await
        .unwrap();
    let store = app.store();
    let first = case(
        &app,
        mail(
            1,
            "anna@example.se",
            "Hej! Gatlampan på Ekvägen 12 är trasig sedan länge. Kan ni laga den?",
        ),
    )
    .await;
    let second = case(
        &app,
        mail(
            2,
            "anna@example.se",
            "Hur ansöker jag om plats i förskolan för min dotter Elsa?",
        ),
    )
    .await;
    let other = case(
        &app,
        mail(
            3,
            "bo@example.se",
            "Gatlampan på Ekvägen 12 lyser inte heller hos mig.",
        ),
    )
    .await;
    // A decision teaches the index the redacted enquiry; a reply goes to Anna.
    app.triage
        .decide(
            first,
            StaffDecision::Reroute {
                department: "gata-park".into(),
                reason: String::new(),
            },
            "kc",
        )
        .await
        .unwrap();
    app.triage
        .send_reply(first, "Tack, vi lagar lampan.", "Kim", "kc")
        .await
        .unwrap();
    assert!(app
        .triage
        .classifier()
        .index()
        .entry(&first.to_string())
        .is_some());

    // Staff turned the answer into an approved chat entry (redacted, written from her case).
    let curated = brevduva::routing::KnowledgeEntry {
        id: first.to_string(),
        department: Some("gata-park".into()),
        subject: "Trasig gatlampa".into(),
        text: "Gatlampan på [adress] är trasig sedan länge.".into(),
        answer: "Felanmäl trasiga gatlampor till gata-park; vi lagar dem inom två veckor.".into(),
        confirmed: true,
        approved: true,
        boundary: false,
    };
    store
        .save_knowledge_entry(&curated, None, "kc")
        .await
        .unwrap();
    app.triage.classifier().update_entry(curated).unwrap();
    let chat = brevduva::chat::ChatBot::new(
        std::sync::Arc::clone(app.triage.classifier()),
        brevduva::chat::ChatSettings::default(),
    );
    let asked = chat
        .reply("Gatlampan är trasig sedan länge, vad gör jag?", None)
        .unwrap();
    assert_eq!(
        asked.source.map(|s| s.id),
        Some(first.to_string()),
        "the chat answers from it"
    );

    let archive = brevduva::records::export_person(store, "Anna@Example.se", "admin")
        .await
        .unwrap();
    let names = tar_names(&archive);
    assert!(names.contains(&"sammanfattning.txt".to_owned()));
    for n in [first, second] {
        assert!(
            names
                .iter()
                .any(|f| f.starts_with(&format!("{n}/meddelande-")) && f.ends_with(".eml")),
            "{names:?}"
        );
        assert!(names.contains(&format!("{n}/arende.json")));
    }
    assert!(names
        .iter()
        .any(|f| f.starts_with(&format!("{first}/utgaende-")) && f.ends_with("-reply.eml")));
    assert!(
        !names.iter().any(|f| f.starts_with(&other.to_string())),
        "nobody else's case"
    );

    let report = brevduva::records::erase_person(
        store,
        Some(app.triage.classifier()),
        "anna@example.se",
        "admin",
    )
    .await
    .unwrap();
    assert_eq!(
        report.cases_erased,
        vec![first.to_string(), second.to_string()]
    );
    // Nothing of Anna is left: not in cases, messages, outbox, or the index.
    let everything = serde_json::to_string(&store.case_detail(first).await.unwrap().unwrap())
        .unwrap()
        + &serde_json::to_string(&store.case_detail(second).await.unwrap().unwrap()).unwrap();
    for trace in ["anna@example.se", "Ekvägen", "Elsa", "lagar lampan"] {
        assert!(!everything.contains(trace), "{trace} left after erasure");
    }
    let outbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipient = 'anna@example.se' OR LENGTH(raw) > 0 AND case_id IN (SELECT id FROM cases WHERE number IN ($1, $2))")
        .bind(first.to_string())
        .bind(second.to_string())
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(outbox, 0);
    assert!(app
        .triage
        .classifier()
        .index()
        .entry(&first.to_string())
        .is_none());
    let asked = chat
        .reply("Gatlampan är trasig sedan länge, vad gör jag?", None)
        .unwrap();
    assert!(
        asked
            .source
            .as_ref()
            .is_none_or(|s| s.id != first.to_string())
            && asked.suggestions.iter().all(|t| t.id != first.to_string()),
        "the chat no longer answers from the erased case: {asked:?}"
    );
    let found = app
        .triage
        .classifier()
        .nearest_answers("Gatlampan på Ekvägen är trasig", 10)
        .unwrap();
    assert!(found.iter().all(|n| n.entry.id != first.to_string()));
    let learned = store
        .knowledge_row(&first.to_string())
        .await
        .unwrap()
        .unwrap();
    assert!(learned.retired && learned.entry.text.is_empty());
    // Bo's case is untouched; the erasure is in the audit log without Anna's address.
    assert!(store.case_detail(other).await.unwrap().unwrap().messages[0]
        .body_text
        .contains("Ekvägen"));
    let audit: String =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'privacy-erase'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(
        audit.contains("2 cases erased") && !audit.contains("anna"),
        "{audit}"
    );

    // The export again is empty.
    let again = brevduva::records::export_person(store, "anna@example.se", "admin")
        .await
        .unwrap();
    assert_eq!(tar_names(&again), ["sammanfattning.txt"]);
}

#[tokio::test]
async fn export_erase_export_on_sqlite() {
    export_erase_export(None).await;
}

#[tokio::test]
async fn export_erase_export_on_postgres() {
    let url = helpers::postgres_database().await;
    export_erase_export(Some(&url)).await;
}

#[tokio::test]
async fn every_way_into_a_case_is_in_the_read_audit_and_admins_search_it() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(helpers::config(dir.path(), None))
        .await
        .unwrap();
    let number = case(
        &app,
        mail(
            1,
            "anna@example.se",
            "Hej! Gatlampan utanför huset är trasig.",
        ),
    )
    .await;
    let detail = app.store().case_detail(number).await.unwrap().unwrap();
    let message = detail.messages[0].id;
    for (name, role) in [("admin", Role::Admin), ("kc", Role::Kontaktcenter)] {
        app.store()
            .create_user(&brevduva::store::NewUser {
                username: name.into(),
                display_name: name.into(),
                role,
                departments: vec![],
                password_hash: brevduva::web::hash_password("ett långt lösenord").unwrap(),
            })
            .await
            .unwrap();
    }
    let panel = router(PanelState::new(
        app.triage.clone(),
        PanelSettings::from_config(&app.config),
    ));
    let session = |user: &str| {
        let store = app.store().clone();
        let user = user.to_owned();
        async move {
            let account = store.account(&user).await.unwrap().unwrap();
            let token = format!("{:0>64}", user.len());
            let hash: String = {
                use sha2::Digest;
                sha2::Sha256::digest(token.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            };
            store
                .open_session(account.member.id, &hash, &"c".repeat(64), 3600)
                .await
                .unwrap();
            token
        }
    };
    let kc = session("kc").await;
    let get = |path: String, token: String| {
        let panel = panel.clone();
        async move {
            panel
                .oneshot(
                    Request::get(path)
                        .header(header::COOKIE, format!("brevduva_session={token}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(
        get(format!("/cases/{number}"), kc.clone()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(format!("/cases/{number}?html={message}"), kc.clone())
            .await
            .status(),
        StatusCode::OK
    );
    let file = get(
        format!("/cases/{number}/messages/{message}/attachments/0"),
        kc.clone(),
    )
    .await;
    assert_eq!(file.status(), StatusCode::OK);
    brevduva::records::export_person(app.store(), "anna@example.se", "admin")
        .await
        .unwrap();

    // The writer records within a moment.
    let mut actions: Vec<(String, String)> = Vec::new();
    for _ in 0..50 {
        actions = sqlx::query_as(
            "SELECT actor, action FROM audit_log WHERE case_id = $1 AND action IN ('read-case', 'read-html', 'read-attachment', 'privacy-export') ORDER BY id",
        )
        .bind(detail.case.id.0)
        .fetch_all(app.store().pool())
        .await
        .unwrap();
        if actions.len() >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut got: Vec<(&str, &str)> = actions
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("admin", "privacy-export"),
            ("kc", "read-attachment"),
            ("kc", "read-case"),
            ("kc", "read-case"),
            ("kc", "read-html"),
        ]
    );
    // Admins search the audit log; others may not.
    let admin = session("admin").await;
    let page = get(
        format!("/audit?case={number}&action=read-attachment"),
        admin,
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = String::from_utf8(
        axum::body::to_bytes(page.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        html.contains("read-attachment") && html.contains("message"),
        "{html}"
    );
    assert!(!html.contains(">read-case<"));
    assert_eq!(
        get("/audit".into(), kc.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("/privacy".into(), kc).await.status(),
        StatusCode::FORBIDDEN
    );
    // Old entries go after their keeping time.
    let removed = app
        .store()
        .purge_audit_log(brevduva::store::now() + 1)
        .await
        .unwrap();
    assert!(removed >= 5);
}

#[test]
fn a_demo_run_opens_no_connection_beyond_the_machine() {
    // strace records every connect(2) of the demo and its threads: the only ones allowed
    // are local sockets and loopback (there is no IMAP, SMTP or OAuth endpoint configured).
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("connect.trace");
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_brevduva"))
        .args(["demo", "--once", "--data-dir"])
        .arg(dir.path().join("demo"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("strace runs (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&trace).unwrap();
    let mut inet = 0;
    for line in calls.lines() {
        if line.contains("AF_INET") {
            inet += 1;
            assert!(
                line.contains("127.0.0.1") || line.contains("::1"),
                "a connection beyond the machine: {line}"
            );
        }
    }
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nya ärenden"),
        "the demo ran"
    );
    eprintln!("{} traced calls, {inet} to loopback", calls.lines().count());
}
