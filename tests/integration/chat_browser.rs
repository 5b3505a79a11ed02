//! The citizen chat in a real browser: headless Chromium driven by `playwright-core`
//! (`tests/browser/chat.mjs`). The test builds an application in a temporary folder whose
//! knowledge base holds approved answers in Swedish, English and Ukrainian (none in Arabic,
//! so Arabic questions get the Swedish answer with a note), unapproved entries, and
//! approved entries of the sensitive departments `socialtjanst` and `omsorg` (never to be
//! answered). It serves the chat on a free loopback port and, on a second port, a
//! municipality's page that includes `/chat/embed.js` (that origin is configured in
//! `chat.embed_origins`), runs the script, and then reads the database: each handoff made
//! in the browser is a case with channel `chat` and an acknowledgement to the address
//! typed, and every question asked was recorded in `chat_questions`.
//!
//! Chromium, Node and the npm packages are installed by `scripts/test.sh`; without them
//! this test fails (it never skips).

use crate::helpers;
use brevduva::app::Application;
use brevduva::store::Store;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The knowledge base. Approved answers of shared departments in Swedish, English and
/// Ukrainian; the Swedish library entry was asked in Arabic once (its question is in
/// Arabic, its answer only in Swedish). Never to be shown: an unapproved entry and
/// approved entries of sensitive departments (their answers carry a `HEMLIGT` marker).
const KNOWLEDGE: &str = r#"{"id": "sophamtning", "department": "vatten-avfall", "subject": "Sophämtning", "text": "När töms soptunnan?", "answer": "Soptunnan töms varannan vecka. Tömningsschemat för din adress finns på kommunens webbplats under Avfall.", "approved": true}
{"id": "grovsopor", "department": "vatten-avfall", "subject": "Grovsopor och återvinningscentralen", "text": "Var lämnar jag grovsopor?", "answer": "Grovsopor lämnar du gratis på återvinningscentralen Returen, som har öppet 7–19 på vardagar.", "approved": true}
{"id": "bibliotek", "department": "kultur-fritid", "subject": "Bibliotekets öppettider", "text": "När har biblioteket öppet? متى تفتح المكتبة؟", "answer": "Stadsbiblioteket har öppet 10–19 på vardagar och 11–15 på lördagar.", "approved": true}
{"id": "simhall", "department": "kultur-fritid", "subject": "Simhallens öppettider", "text": "När har simhallen öppet?", "answer": "Simhallen har öppet 6–21 på vardagar och 8–18 på helger.", "approved": true}
{"id": "waste-en", "department": "vatten-avfall", "subject": "Waste collection", "text": "When is the bin emptied?", "answer": "The bin is emptied every other week. The schedule for your address is on the municipality's website under Waste.", "approved": true}
{"id": "library-en", "department": "kultur-fritid", "subject": "Library opening hours", "text": "When is the library open?", "answer": "The city library is open 10 to 19 on weekdays and 11 to 15 on Saturdays.", "approved": true}
{"id": "smittia-uk", "department": "vatten-avfall", "subject": "Вивіз сміття", "text": "Коли вивозять сміття?", "answer": "Сміттєвий контейнер спорожнюють раз на два тижні. Графік для вашої адреси є на сайті муніципалітету.", "approved": true}
{"id": "biblioteka-uk", "department": "kultur-fritid", "subject": "Години роботи бібліотеки", "text": "Коли працює бібліотека?", "answer": "Міська бібліотека працює з 10 до 19 у будні та з 11 до 15 у суботу.", "approved": true}
{"id": "bygglov-altan", "department": "bygg-miljo", "subject": "Bygglov för altan", "text": "Behöver jag bygglov för en altan?", "answer": "HEMLIGT-OGODKÄNT: En altan högre än 1,2 meter kräver oftast bygglov.", "approved": false}
{"id": "bistand", "department": "socialtjanst", "subject": "Ekonomiskt bistånd", "text": "Hur ansöker jag om ekonomiskt bistånd?", "answer": "HEMLIGT-SOCIALTJÄNST: Du ansöker om ekonomiskt bistånd hos socialtjänsten via e-tjänsten Mina sidor.", "approved": true}
{"id": "orosanmalan", "department": "socialtjanst", "subject": "Orosanmälan", "text": "Hur gör jag en orosanmälan om ett barn?", "answer": "HEMLIGT-OROSANMÄLAN: En orosanmälan gör du till socialtjänstens mottagning för barn och unga.", "approved": true}
{"id": "hemtjanst", "department": "omsorg", "subject": "Hemtjänst", "text": "Hur ansöker jag om hemtjänst för min mamma?", "answer": "HEMLIGT-OMSORG: Kontakta biståndshandläggaren i omsorgen för att ansöka om hemtjänst.", "approved": true}
"#;

/// Departments whose entries the chat must never give.
const SENSITIVE_DEPARTMENTS: [&str; 2] = ["socialtjanst", "omsorg"];

/// The addresses of the handoff made with the mouse and the one made from the keyboard.
const MOUSE_EMAIL: &str = "anna.chatt@example.se";
const KEYBOARD_EMAIL: &str = "kim.tangent@example.se";

/// How long the script may take before it is stopped.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Node, Chromium and the npm packages, or a failure that says how to get them.
fn require_tools() -> String {
    let hint = "run the tests with scripts/test.sh, which installs Chromium (Debian package \
                `chromium`) and the npm packages of tests/browser (`npm ci --prefix tests/browser`)";
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("Node.js is missing ({e}): {hint}"));
    assert!(node.status.success(), "`node --version` failed: {hint}");
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is missing at {chromium}: {hint}"
    );
    for package in ["playwright-core", "axe-core"] {
        assert!(
            browser_dir().join("node_modules").join(package).exists(),
            "the npm package {package} is missing in tests/browser/node_modules: {hint}"
        );
    }
    chromium
}

/// What the script is told about the knowledge base: the titles of the entries it may see
/// as sources, and the texts and ids it must never see.
fn knowledge_data() -> Value {
    let mut titles = BTreeMap::new();
    let mut secrets = Vec::new();
    let mut secret_ids = Vec::new();
    for line in KNOWLEDGE.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).expect("a knowledge entry");
        let text = |key: &str| entry[key].as_str().unwrap().to_owned();
        let sensitive = SENSITIVE_DEPARTMENTS.contains(&entry["department"].as_str().unwrap());
        if entry["approved"] == true && !sensitive {
            titles.insert(text("id"), text("subject"));
        } else {
            // The question itself is what the reader types, so it may be on the page; the
            // answer and the title may not (the title is given to sources and topics).
            secrets.push(text("answer"));
            secrets.push(text("subject"));
            secret_ids.push(text("id"));
        }
    }
    secrets.push("HEMLIGT".to_owned());
    json!({ "titles": titles, "secrets": secrets, "secret_ids": secret_ids })
}

/// The municipality's page on another origin, with the one script tag (and a strict
/// policy of its own that allows only Brevduva's script and frame).
async fn serve_host_page(
    listener: tokio::net::TcpListener,
    brevduva: String,
) -> tokio::task::JoinHandle<()> {
    use axum::http::header;
    let html = format!(
        "<!doctype html>\n<html lang=\"sv\">\n<head><meta charset=\"utf-8\"><title>Exempelby kommun</title></head>\n\
         <body><main><h1>Exempelby kommun</h1><p>Välkommen till kommunens webbplats.</p></main>\n\
         <script src=\"{brevduva}/chat/embed.js\" defer></script>\n</body>\n</html>\n"
    );
    let policy = format!(
        "default-src 'none'; script-src {brevduva}; frame-src {brevduva}; base-uri 'none'; form-action 'none'"
    );
    let page = move || async move {
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                (header::CONTENT_SECURITY_POLICY, policy),
            ],
            html,
        )
    };
    let router = axum::Router::new().route("/", axum::routing::get(page));
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("the host page");
    })
}

async fn scalar_i64(store: &Store, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .bind(bind.to_owned())
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Ask, answer with its source, a follow-up, "not sure" with topics and the handoff (by
/// mouse and by keyboard); axe in four languages, light and dark, desktop and phone; urgent
/// matters first; nothing sensitive shown; no cookies, no foreign requests, a CSP on every
/// response; the language switch and Arabic right to left; the embed script. Then the
/// database: the handoffs are chat cases with acknowledgements, the questions recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_in_the_browser() {
    let started = Instant::now();
    let chromium = require_tools();
    let dir = tempfile::tempdir().unwrap();
    let knowledge = dir.path().join("knowledge");
    std::fs::create_dir_all(&knowledge).unwrap();
    std::fs::write(knowledge.join("chat.jsonl"), KNOWLEDGE).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let host_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host_url = format!("http://{}", host_listener.local_addr().unwrap());

    let mut config = helpers::config(dir.path(), None);
    config.maildir.enabled = false;
    config.routing.knowledge_dir = Some(knowledge);
    config.chat.embed_origins = vec![host_url.clone()];
    // Every request comes from 127.0.0.1: the per-client limits would stop the script.
    config.chat.requests_per_minute_per_client = 10_000;
    config.chat.handoffs_per_hour_per_client = 100;
    let database_url = config.database_url().expose().to_owned();
    let app = Application::build(config)
        .await
        .expect("application builds");
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(app.run(listener, stopped));
    let host = serve_host_page(host_listener, base_url.clone()).await;

    let mut data = knowledge_data();
    data["host_url"] = json!(format!("{host_url}/"));
    data["emails"] = json!({ "mouse": MOUSE_EMAIL, "keyboard": KEYBOARD_EMAIL });
    let secret_ids: Vec<String> = serde_json::from_value(data["secret_ids"].clone()).unwrap();

    // The script.
    let script_started = Instant::now();
    let child = tokio::process::Command::new("node")
        .arg(browser_dir().join("chat.mjs"))
        .current_dir(browser_dir())
        .env("BASE_URL", &base_url)
        .env("CHROMIUM_PATH", &chromium)
        .env("BREVDUVA_TEST_DATA", data.to_string())
        // lib.mjs wants the panel's accounts; the chat has none.
        .env("ADMIN_USER", "unused")
        .env("ADMIN_PASSWORD", "unused")
        .env("KC_USER", "unused")
        .env("KC_PASSWORD", "unused")
        .env("DEPT_USER", "unused")
        .env("DEPT_PASSWORD", "unused")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("starting node failed ({e}): run the tests with scripts/test.sh")
        });
    let output = match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output()).await {
        Ok(output) => output.unwrap(),
        Err(_) => panic!("chat.mjs did not finish within {SCRIPT_TIMEOUT:?}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!(
        "--- chat.mjs ({:.1} s) ---\n{stdout}{stderr}",
        script_started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "chat.mjs failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );

    // What the script reports: the case numbers it was shown, and how many questions the
    // chat answered.
    let mut handoffs = BTreeMap::new();
    let mut asked = None;
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["handoff", email, number] => {
                handoffs.insert(email.to_string(), number.to_string());
            }
            ["questions", n] => asked = n.parse::<i64>().ok(),
            _ => {}
        }
    }
    assert_eq!(
        handoffs.keys().map(String::as_str).collect::<Vec<_>>(),
        [MOUSE_EMAIL, KEYBOARD_EMAIL],
        "the script reports both handoffs"
    );
    let asked = asked.expect("the script reports how many questions were answered");

    // The background writer records questions in batches: give it a moment.
    let store = Store::connect(&database_url).await.unwrap();
    let count_sql = "SELECT COUNT(*) FROM chat_questions WHERE conversation_id <> ?";
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut recorded = scalar_i64(&store, count_sql, "").await;
    while recorded < asked && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        recorded = scalar_i64(&store, count_sql, "").await;
    }
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    host.abort();

    // Every question the chat answered in the browser was recorded.
    assert_eq!(recorded, asked, "questions recorded in chat_questions");
    let rows = sqlx::query_as::<_, (String, String, Option<String>)>(
        "SELECT language, kind, topic FROM chat_questions",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    let languages: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let kinds: BTreeSet<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        languages,
        BTreeSet::from(["ar", "en", "sv", "uk"]),
        "languages recorded"
    );
    assert_eq!(
        kinds,
        BTreeSet::from(["answer", "not-sure", "urgent"]),
        "kinds recorded"
    );
    for (_, kind, topic) in &rows {
        if let Some(topic) = topic {
            assert!(
                !secret_ids.contains(topic),
                "a sensitive or unapproved entry was recorded as a {kind} topic: {topic}"
            );
        }
    }

    // Each handoff: a chat case for the address typed, with the question, its
    // acknowledgement in the outbox, and the conversation's questions linked to it.
    let cases = scalar_i64(
        &store,
        "SELECT COUNT(*) FROM cases WHERE channel = ?",
        "chat",
    )
    .await;
    assert_eq!(cases, 2, "chat cases (one per handoff)");
    for (email, number) in &handoffs {
        let (channel, citizen, body) = sqlx::query_as::<_, (String, Option<String>, String)>(
            "SELECT c.channel, c.citizen_address, m.body_text FROM cases c \
             JOIN messages m ON m.case_id = c.id WHERE c.number = ?",
        )
        .bind(number)
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("the case {number} the browser showed: {e}"));
        assert_eq!(channel, "chat", "{number}'s channel");
        assert_eq!(
            citizen.as_deref(),
            Some(email.as_str()),
            "{number}'s citizen"
        );
        let question = if email == MOUSE_EMAIL {
            "festlokal i Folkets park"
        } else {
            "rent a canoe"
        };
        assert!(body.contains(question), "{number}'s question: {body}");
        let acknowledgements = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT o.raw FROM outbox o JOIN cases c ON c.id = o.case_id \
             WHERE c.number = ? AND o.kind = 'acknowledgement' AND o.recipient = ?",
        )
        .bind(number)
        .bind(email)
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            acknowledgements.len(),
            1,
            "{number}: acknowledgements to {email} in the outbox"
        );
        let raw = String::from_utf8_lossy(&acknowledgements[0]);
        assert!(
            raw.contains(number.as_str()),
            "{number}: the acknowledgement does not give the case number"
        );
        let linked = scalar_i64(
            &store,
            "SELECT COUNT(*) FROM chat_questions WHERE case_number = ?",
            number,
        )
        .await;
        assert!(linked >= 1, "{number}: no chat question linked to the case");
    }
    store.close().await;
    println!(
        "chat_in_the_browser: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}
