//! The admin panel in a real browser: headless Chromium driven by `playwright-core`
//! (scripts in `tests/browser/`). Each test builds an application in a temporary folder,
//! feeds it the demo mails and the hostile corpus (`tests/browser/hostile/*.eml`), creates
//! three accounts, serves the panel on a free loopback port, runs one or more scripts
//! against it and then reads the database to check that what the browser did really
//! happened.
//!
//! Chromium, Node and the npm packages are installed by `scripts/test.sh`; without them
//! these tests fail (they never skip).

use crate::helpers;
use brevduva::app::Application;
use brevduva::domain::{CaseNumber, Role};
use brevduva::store::{NewUser, Store};
use brevduva::triage::Outcome;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The accounts every test gets: (user name, display name, role, departments, password).
const ADMIN: (&str, &str, &str) = ("admin", "Alva Admin", "Adm1n-lösenord-för-test");
const KONTAKTCENTER: (&str, &str, &str) = ("kc", "Kim Kontaktcenter", "Kc-lösenord-för-test-9");
const DEPARTMENT: (&str, &str, &str) = ("bygg", "Bo Bygg", "Bygg-lösenord-för-test-7");
/// The department user's department.
const DEPARTMENT_ID: &str = "bygg-miljo";

/// How long one script may take before it is stopped.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(150);

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

/// The hostile corpus: (file name, bytes), sorted by name.
fn hostile_mails() -> Vec<(String, Vec<u8>)> {
    let mut mails: Vec<(String, Vec<u8>)> = std::fs::read_dir(browser_dir().join("hostile"))
        .expect("tests/browser/hostile")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    mails.sort();
    assert!(mails.len() >= 10, "the hostile corpus is incomplete");
    mails
}

/// A served panel with its data.
struct Panel {
    _dir: tempfile::TempDir,
    database_url: String,
    base_url: String,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// Case number of each fed mail, by file name.
    cases: BTreeMap<String, CaseNumber>,
    /// The hostile mails' file names.
    hostile: Vec<String>,
    chromium: String,
}

impl Panel {
    /// Builds, feeds and serves an application.
    async fn start() -> Self {
        Self::start_with_reply(None).await
    }

    /// [`Panel::start`], sending a reply (mail file name, text) before serving.
    async fn start_with_reply(reply: Option<(&str, &str)>) -> Self {
        let chromium = require_tools();
        let dir = tempfile::tempdir().unwrap();
        let mut config = helpers::config(dir.path(), None);
        config.maildir.enabled = false;
        let database_url = config.database_url().expose().to_owned();
        let app = Application::build(config)
            .await
            .expect("application builds");
        let mut cases = BTreeMap::new();
        let hostile = hostile_mails();
        let demo = brevduva::defaults::demo_mails()
            .iter()
            .map(|(name, raw)| (name.to_string(), raw.to_vec()));
        for (name, raw) in demo.chain(hostile.iter().cloned()) {
            match app.triage.process(raw, "test").await {
                Ok(Outcome::NewCase { number, .. }) | Ok(Outcome::Joined { number, .. }) => {
                    cases.insert(name, number);
                }
                Ok(_) => {}
                Err(e) => panic!("{name}: {e}"),
            }
        }
        let hostile: Vec<String> = hostile.into_iter().map(|(name, _)| name).collect();
        for name in &hostile {
            assert!(
                cases.contains_key(name),
                "the hostile mail {name} did not become a case"
            );
        }
        if let Some((name, text)) = reply {
            let number = cases[name];
            app.triage
                .send_reply(number, text, KONTAKTCENTER.1, KONTAKTCENTER.0)
                .await
                .unwrap()
                .expect("a reply");
        }
        for ((username, display_name, password), role, departments) in [
            (ADMIN, Role::Admin, vec![]),
            (KONTAKTCENTER, Role::Kontaktcenter, vec![]),
            (DEPARTMENT, Role::Department, vec![DEPARTMENT_ID.to_owned()]),
        ] {
            let password_hash = brevduva::web::hash_password(password).unwrap();
            app.store()
                .create_user(&NewUser {
                    username: username.into(),
                    display_name: display_name.into(),
                    role,
                    departments,
                    password_hash,
                })
                .await
                .unwrap()
                .expect("a new account");
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(app.run(listener, stopped));
        Self {
            _dir: dir,
            database_url,
            base_url,
            stop,
            server,
            cases,
            hostile,
            chromium,
        }
    }

    fn case(&self, name: &str) -> CaseNumber {
        *self
            .cases
            .get(name)
            .unwrap_or_else(|| panic!("no case for {name}"))
    }

    /// A second connection to the database (the served application keeps its own).
    async fn store(&self) -> Store {
        Store::connect(&self.database_url).await.unwrap()
    }

    /// Runs `node tests/browser/<script>` with the panel's address, the accounts and
    /// `data` (JSON in `BREVDUVA_TEST_DATA`); fails with its output unless it exits 0.
    async fn run_script(&self, script: &str, data: Value) {
        let started = Instant::now();
        let mut command = tokio::process::Command::new("node");
        command
            .arg(browser_dir().join(script))
            .current_dir(browser_dir())
            .env("BASE_URL", &self.base_url)
            .env("CHROMIUM_PATH", &self.chromium)
            .env("ADMIN_USER", ADMIN.0)
            .env("ADMIN_PASSWORD", ADMIN.2)
            .env("KC_USER", KONTAKTCENTER.0)
            .env("KC_NAME", KONTAKTCENTER.1)
            .env("KC_PASSWORD", KONTAKTCENTER.2)
            .env("DEPT_USER", DEPARTMENT.0)
            .env("DEPT_PASSWORD", DEPARTMENT.2)
            .env("DEPT_ID", DEPARTMENT_ID)
            .env("BREVDUVA_TEST_DATA", data.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("starting node failed ({e}): run the tests with scripts/test.sh")
        });
        let output = match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output()).await {
            Ok(output) => output.unwrap(),
            Err(_) => panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}"),
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!(
            "--- {script} ({:.1} s) ---\n{stdout}{stderr}",
            started.elapsed().as_secs_f64()
        );
        assert!(
            output.status.success(),
            "{script} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            output.status
        );
    }

    /// Stops the server and its workers.
    async fn stop(self) -> (tempfile::TempDir, String) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.server)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
        (self._dir, self.database_url)
    }
}

async fn scalar_i64(store: &Store, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .bind(bind.to_owned())
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn scalar_text(store: &Store, sql: &str, bind: &str) -> Option<String> {
    sqlx::query_scalar::<_, Option<String>>(sql)
        .bind(bind.to_owned())
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The demo mails the workflows act on.
const CONFIRM_MOUSE: &str = "demo/mails/22-oklart-klagomal.eml";
const CONFIRM_KEYBOARD: &str = "demo/mails/25-nyhetsbrev-bulk.eml";
const REROUTE_MOUSE: &str = "demo/mails/34-buller-flakt-pizzeria.eml";
const REROUTE_KEYBOARD: &str = "demo/mails/16-torgplats-rokt-fisk.eml";
const REPLY_MOUSE: &str = "demo/mails/06-trasig-gatlampa.eml";
const REPLY_KEYBOARD: &str = "demo/mails/01-oppettider-medborgarkontoret.eml";
const DEPARTMENT_CASE: &str = "demo/mails/05-bygglov-uterum-ritning.eml";
const HTML_CASE: &str = "demo/mails/28-html-foreningsbidrag.eml";
const HOSTILE_SUBJECT: &str = "h08-rubrik-och-avsandare.eml";
const HOSTILE_ATTACHMENTS: &str = "h07-bilagenamn.eml";

const CASE_STATUS: &str = "SELECT status FROM cases WHERE number = ?";
const CASE_DEPARTMENT: &str = "SELECT department_id FROM cases WHERE number = ?";

/// Log in, confirm, reroute, reply from a suggestion and the knowledge base flow with the
/// mouse; the same actions from the keyboard alone; what department staff may not see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_workflows_and_keyboard() {
    let panel = Panel::start().await;
    let store = panel.store().await;
    for name in [CONFIRM_MOUSE, CONFIRM_KEYBOARD] {
        let number = panel.case(name).to_string();
        assert_eq!(
            scalar_text(&store, CASE_STATUS, &number).await.as_deref(),
            Some("triage"),
            "{name} should wait for triage"
        );
        assert!(scalar_text(&store, CASE_DEPARTMENT, &number)
            .await
            .is_some());
    }
    let reroute = panel.case(REROUTE_MOUSE).to_string();
    assert_eq!(
        scalar_text(&store, CASE_DEPARTMENT, &reroute)
            .await
            .as_deref(),
        Some("bygg-miljo")
    );
    let keyboard_reroute = panel.case(REROUTE_KEYBOARD).to_string();
    let keyboard_from = scalar_text(&store, CASE_DEPARTMENT, &keyboard_reroute)
        .await
        .unwrap();
    let department_case = panel.case(DEPARTMENT_CASE).to_string();
    assert_eq!(
        scalar_text(&store, CASE_DEPARTMENT, &department_case)
            .await
            .as_deref(),
        Some(DEPARTMENT_ID)
    );
    let data = json!({
        "mouse": {
            "confirm": panel.case(CONFIRM_MOUSE).to_string(),
            "reroute": reroute,
            "reroute_to": "gata-park",
            "reply": panel.case(REPLY_MOUSE).to_string(),
            "other_department_case": panel.case(REPLY_KEYBOARD).to_string(),
            "department_case": department_case,
        },
        "keyboard": {
            "confirm": panel.case(CONFIRM_KEYBOARD).to_string(),
            "reroute": keyboard_reroute,
            "reply": panel.case(REPLY_KEYBOARD).to_string(),
        },
    });
    panel.run_script("workflows.mjs", data.clone()).await;
    panel.run_script("keyboard.mjs", data).await;
    let reply = panel.case(REPLY_MOUSE).to_string();
    let keyboard_reply = panel.case(REPLY_KEYBOARD).to_string();
    let confirms = [
        (panel.case(CONFIRM_MOUSE).to_string(), KONTAKTCENTER.0),
        (panel.case(CONFIRM_KEYBOARD).to_string(), ADMIN.0),
    ];
    let (_dir, _) = panel.stop().await;

    // Confirmed: routed, with a person's decision and an audit entry.
    for (number, actor) in &confirms {
        assert_eq!(
            scalar_text(&store, CASE_STATUS, number).await.as_deref(),
            Some("routed"),
            "{number} after confirming"
        );
        let decisions = scalar_i64(
            &store,
            &format!(
                "SELECT COUNT(*) FROM routing_decisions d JOIN cases c ON c.id = d.case_id \
                 WHERE c.number = ? AND d.decided_by = 'person' AND d.actor = '{actor}'"
            ),
            number,
        )
        .await;
        assert_eq!(decisions, 1, "{actor}'s decision on {number}");
        assert_eq!(audit(&store, actor, "confirm", number).await, 1);
    }
    // Rerouted, with the reason kept.
    assert_eq!(
        scalar_text(&store, CASE_DEPARTMENT, &reroute)
            .await
            .as_deref(),
        Some("gata-park")
    );
    let explanation = scalar_text(
        &store,
        "SELECT d.explanation FROM routing_decisions d JOIN cases c ON c.id = d.case_id \
         WHERE c.number = ? AND d.actor IS NOT NULL ORDER BY d.id DESC LIMIT 1",
        &reroute,
    )
    .await
    .unwrap();
    assert!(
        explanation.contains("Gäller fläkten på gatan"),
        "{explanation}"
    );
    assert_eq!(audit(&store, KONTAKTCENTER.0, "reroute", &reroute).await, 1);
    let keyboard_to = scalar_text(&store, CASE_DEPARTMENT, &keyboard_reroute)
        .await
        .unwrap();
    assert_ne!(keyboard_to, keyboard_from, "rerouted from the keyboard");
    assert_eq!(
        audit(&store, ADMIN.0, "reroute", &keyboard_reroute).await,
        1
    );
    // Replies: in the outbox (and sent by the file transport), with the edited text.
    for (number, marker) in [
        (&reply, "Vi byter lampan vecka 49"),
        (&keyboard_reply, "Tillagt från tangentbordet"),
    ] {
        let raw = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT o.raw FROM outbox o JOIN cases c ON c.id = o.case_id \
             WHERE c.number = ? AND o.kind = 'reply'",
        )
        .bind(number)
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(raw.len(), 1, "replies in the outbox of {number}");
        let text = mail_parser::MessageParser::default()
            .parse(&raw[0])
            .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
            .unwrap_or_default();
        assert!(text.contains(marker), "{number}'s reply: {text}");
    }
    // The knowledge entry: made from the reply, redacted, approved, edited, retired.
    let row = sqlx::query_as::<
        _,
        (
            String,
            String,
            i64,
            i64,
            Option<String>,
            Option<String>,
            String,
        ),
    >(
        "SELECT subject, answer, approved, retired, review_by, edited_by, department_id \
         FROM knowledge_entries WHERE id = ?",
    )
    .bind(&reply)
    .fetch_one(store.pool())
    .await
    .expect("the knowledge entry exists");
    let (subject, answer, approved, retired, review_by, edited_by, department) = row;
    assert_eq!(subject, "Trasig gatlampa – så gör vi (redigerad)");
    assert!(answer.contains("Vi byter lampan vecka 49"), "{answer}");
    assert!(!answer.contains(KONTAKTCENTER.1), "not redacted: {answer}");
    assert_eq!((approved, retired), (1, 1), "approved and retired");
    assert_eq!(review_by.as_deref(), Some("2027-06-30"));
    assert_eq!(edited_by.as_deref(), Some(KONTAKTCENTER.0));
    assert_eq!(department, "gata-park");
    for action in ["knowledge-saved", "knowledge-retired"] {
        let n = scalar_i64(
            &store,
            &format!("SELECT COUNT(*) FROM audit_log WHERE actor = '{}' AND action = '{action}' AND detail = ?", KONTAKTCENTER.0),
            &reply,
        )
        .await;
        assert!(n >= 1, "{action} in the audit log");
    }
    // Everyone logged in through the browser.
    for user in [ADMIN.0, KONTAKTCENTER.0, DEPARTMENT.0] {
        let n = scalar_i64(
            &store,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'login' AND actor = ?",
            user,
        )
        .await;
        assert!(n >= 1, "{user}'s log-in in the audit log");
    }
    store.close().await;
}

/// axe-core finds no WCAG 2.1 A/AA violation on any page, in Swedish and English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_accessibility() {
    // A sent reply, for the case page's thread and the new entry with its redaction.
    let panel = Panel::start_with_reply(Some((
        REPLY_MOUSE,
        "Hej Patrik!\n\nVi lagar lampan på Björkvägen inom två veckor.",
    )))
    .await;
    let replied = panel.case(REPLY_MOUSE);
    let data = json!({
        "replied_case": replied.to_string(),
        "html_case": panel.case(HTML_CASE).to_string(),
        "attachment_case": panel.case(HOSTILE_ATTACHMENTS).to_string(),
        "search": "bygglov",
    });
    panel.run_script("axe.mjs", data).await;
    panel.stop().await;
}

/// The hostile corpus never runs script, loads anything remote or escapes its box; every
/// response has the strict CSP; attachments download under sanitised names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_hostile_mail() {
    let panel = Panel::start().await;
    let data = json!({
        "hostile_cases": panel.hostile.iter().map(|n| panel.case(n).to_string()).collect::<Vec<_>>(),
        "hostile_subject_case": panel.case(HOSTILE_SUBJECT).to_string(),
        "attachment_case": panel.case(HOSTILE_ATTACHMENTS).to_string(),
    });
    panel.run_script("hostile.mjs", data).await;
    let (_dir, database_url) = panel.stop().await;
    // Looking is not acting: the hostile pages changed nothing (reading is recorded in the
    // read audit, and that is all).
    let store = Store::connect(&database_url).await.unwrap();
    let acted = scalar_i64(
        &store,
        "SELECT COUNT(*) FROM audit_log WHERE action NOT IN ('login', 'user-created') \
         AND action NOT LIKE 'read-%' AND actor <> ?",
        "",
    )
    .await;
    assert_eq!(acted, 0, "the hostile pages caused actions");
    let reads = scalar_i64(
        &store,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'read-case' AND actor <> ?",
        "",
    )
    .await;
    assert!(reads > 0, "the pages read were recorded in the read audit");
    store.close().await;
}

async fn audit(store: &Store, actor: &str, action: &str, number: &str) -> i64 {
    scalar_i64(
        store,
        &format!(
            "SELECT COUNT(*) FROM audit_log a JOIN cases c ON c.id = a.case_id \
             WHERE a.actor = '{actor}' AND a.action = '{action}' AND c.number = ?"
        ),
        number,
    )
    .await
}
