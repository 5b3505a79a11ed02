//! The admin panel through its router (no browser): every route demands a session, rights
//! hold on every way into a case, forms need the session's token, log-in locks after
//! repeated failures, and every action does what it says, on SQLite and PostgreSQL. The
//! browser tests (`browser.rs`) drive the same panel in real Chromium.

use crate::helpers;
use axum::body::Body;
use axum::http::{header, Method, Request, Response, StatusCode};
use axum::Router;
use brevduva::app::Application;
use brevduva::domain::{CaseNumber, Role};
use brevduva::store::NewUser;
use brevduva::triage::Outcome;
use brevduva::web::{panel_routes, router, Access, PanelSettings, PanelState};
use tower::ServiceExt;

const PASSWORD: &str = "ett långt lösenord för test";

/// A panel on a fresh data dir, with cases in several departments and three accounts.
struct Panel {
    app: Application,
    router: Router,
    /// A case waiting for triage, suggested for some department.
    triage_case: CaseNumber,
    /// A bygg-miljo case with an attachment.
    bygg_case: CaseNumber,
    /// A socialtjanst (sensitive) case.
    social_case: CaseNumber,
    /// A case of another, non-sensitive department.
    other_case: CaseNumber,
    _dir: tempfile::TempDir,
}

fn mail(i: usize, from: &str, subject: &str, text: &str, attachment: bool) -> Vec<u8> {
    let body = if attachment {
        format!(
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
             --b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"../../ritning\u{202e}fdp.exe\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
        )
    } else {
        format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n")
    };
    format!(
        "From: {from}\r\nTo: kontaktcenter@kommun.example\r\nSubject: {subject}\r\nMessage-ID: <panel{i}@example.se>\r\n\
         Date: Fri, 27 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n{body}"
    )
    .into_bytes()
}

async fn new_case(app: &Application, raw: Vec<u8>) -> (CaseNumber, Option<String>, bool) {
    match app.triage.process(raw, "test").await.unwrap() {
        Outcome::NewCase {
            number,
            department,
            auto_routed,
            ..
        } => (number, department, auto_routed),
        other => panic!("expected a new case, got {other:?}"),
    }
}

impl Panel {
    async fn new(database_url: Option<&str>, rules_dir: Option<std::path::PathBuf>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = helpers::config(dir.path(), database_url);
        config.routing.rules_dir = rules_dir;
        let app = Application::build(config).await.unwrap();
        let (bygg_case, department, _) = new_case(
            &app,
            mail(1, "Anna Svensson <anna@example.se>", "Bygglov för altan",
                 "Hej! Behöver jag bygglov för att bygga en altan på 30 kvadratmeter vid mitt hus? Ritningen bifogas. Mitt personnummer är 19121212-1212.", true),
        )
        .await;
        assert_eq!(department.as_deref(), Some("bygg-miljo"));
        let (social_case, department, _) = new_case(
            &app,
            mail(2, "Bo Ek <bo@example.se>", "Orosanmälan",
                 "Jag vill göra en orosanmälan till socialtjänsten om ett barn i grannfamiljen som far illa.", false),
        )
        .await;
        assert_eq!(department.as_deref(), Some("socialtjanst"));
        let (other_case, department, _) = new_case(
            &app,
            mail(
                3,
                "Cilla Berg <cilla@example.se>",
                "Förskoleplats",
                "Hej, hur ansöker jag om plats i förskolan för min dotter som fyller ett år i vår?",
                false,
            ),
        )
        .await;
        assert!(department.is_some_and(|d| d != "bygg-miljo" && d != "socialtjanst"));
        let (triage_case, _, auto) = new_case(
            &app,
            mail(
                4,
                "Dan Ny <dan@example.se>",
                "Vad håller ni på med",
                "Vad håller ni på med egentligen? Jag förstår ingenting av det ni skickade.",
                false,
            ),
        )
        .await;
        assert!(!auto, "a vague mail waits for triage");
        for (name, role, departments) in [
            ("admin", Role::Admin, vec![]),
            ("kc", Role::Kontaktcenter, vec![]),
            ("bygg", Role::Department, vec!["bygg-miljo".to_string()]),
            ("social", Role::Department, vec!["socialtjanst".to_string()]),
        ] {
            app.store()
                .create_user(&NewUser {
                    username: name.into(),
                    display_name: format!("Handläggare {name}"),
                    role,
                    departments,
                    password_hash: brevduva::web::hash_password(PASSWORD).unwrap(),
                })
                .await
                .unwrap()
                .expect("new account");
        }
        let router = router(PanelState::new(
            app.triage.clone(),
            PanelSettings::from_config(&app.config),
        ));
        Self {
            app,
            router,
            triage_case,
            bygg_case,
            social_case,
            other_case,
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }

    async fn get(&self, path: &str, session: Option<&str>) -> Response<Body> {
        let mut r = Request::get(path);
        if let Some(s) = session {
            r = r.header(header::COOKIE, format!("brevduva_session={s}"));
        }
        self.send(r.body(Body::empty()).unwrap()).await
    }

    async fn post(
        &self,
        path: &str,
        session: Option<&str>,
        form: &[(&str, &str)],
    ) -> Response<Body> {
        let mut r =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(s) = session {
            r = r.header(header::COOKIE, format!("brevduva_session={s}"));
        }
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(r.body(Body::from(body)).unwrap()).await
    }

    /// Logs in; returns the session token.
    async fn log_in(&self, username: &str, password: &str) -> Result<String, String> {
        let page = self.get("/login", None).await;
        let login_cookie = set_cookie(&page, "brevduva_login").expect("login cookie");
        let token = form_token(&text(page).await);
        let body = serde_urlencoded::to_string([
            ("csrf", token.as_str()),
            ("username", username),
            ("password", password),
        ])
        .unwrap();
        let r = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("brevduva_login={login_cookie}"))
            .body(Body::from(body))
            .unwrap();
        let response = self.send(r).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        match set_cookie(&response, "brevduva_session") {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(location(&response)),
        }
    }

    /// The session's form token, read from a page.
    async fn csrf(&self, session: &str) -> String {
        form_token(&text(self.get("/search", Some(session)).await).await)
    }
}

fn set_cookie(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

pub(crate) fn location(response: &Response<Body>) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub(crate) async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn form_token(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    html[at..at + 64].to_owned()
}

/// A route's path with sample values for its parameters.
pub(crate) fn sample_path(path: &str, case: CaseNumber) -> String {
    path.replace("{number}", &case.to_string())
        .replace("{message}", "1")
        .replace("{index}", "0")
        .replace("{id}", "1")
        .replace("{department}", "bygg-miljo")
}

#[tokio::test]
async fn every_route_but_log_in_health_assets_and_the_chat_demands_a_session() {
    let panel = Panel::new(None, None).await;
    let routes = panel_routes();
    assert!(routes.len() >= 30, "the table holds every route");
    let mut checked = 0;
    for route in &routes {
        for method in route.methods {
            let path = sample_path(route.path, panel.bygg_case);
            for cookie in [None, Some("0".repeat(64))] {
                let mut r = Request::builder().method(method.clone()).uri(&path);
                if let Some(c) = &cookie {
                    r = r.header(header::COOKIE, format!("brevduva_session={c}"));
                }
                if *method == Method::POST {
                    r = r.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                }
                let response = panel.send(r.body(Body::from("csrf=x")).unwrap()).await;
                let csp = response
                    .headers()
                    .get(header::CONTENT_SECURITY_POLICY)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                assert!(
                    csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
                    "{method} {path}: CSP {csp:?}"
                );
                if route.access == Access::Public {
                    continue;
                }
                checked += 1;
                match *method {
                    Method::GET => {
                        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{method} {path}");
                        assert_eq!(location(&response), "/login", "{method} {path}");
                    }
                    _ => assert_eq!(
                        response.status(),
                        StatusCode::UNAUTHORIZED,
                        "{method} {path}"
                    ),
                }
            }
        }
    }
    assert!(checked >= 56, "checked {checked} route/method pairs");
    let public: Vec<&str> = routes
        .iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| r.path)
        .collect();
    assert_eq!(
        public,
        [
            "/healthz",
            "/readyz",
            "/metrics",
            "/assets/panel.css",
            "/assets/panel.js",
            "/language",
            "/login",
            "/chat",
            "/chat/chat.css",
            "/chat/chat.js",
            "/chat/embed.js",
            "/api/chat",
            "/api/chat/handoff",
            "/api/openapi.json"
        ],
        "only log-in, health and metrics (loopback or token), static assets and the public chat go without a session"
    );
}

#[tokio::test]
async fn department_staff_get_no_other_departments_case_by_any_route() {
    let panel = Panel::new(None, None).await;
    let bygg = panel.log_in("bygg", PASSWORD).await.unwrap();
    let csrf = panel.csrf(&bygg).await;

    // Their own case: page and attachment.
    let own = panel
        .get(&format!("/cases/{}", panel.bygg_case), Some(&bygg))
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    let html = text(own).await;
    let attachment = html
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.contains("/attachments/")))
        .expect("an attachment link")
        .to_owned();
    let download = panel.get(&attachment, Some(&bygg)).await;
    assert_eq!(download.status(), StatusCode::OK);
    let disposition = download.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"ritningfdp.exe\""),
        "{disposition}"
    );
    assert_eq!(
        download.headers()[header::CONTENT_TYPE],
        "application/octet-stream"
    );

    for case in [panel.social_case, panel.other_case, panel.triage_case] {
        let page = panel.get(&format!("/cases/{case}"), Some(&bygg)).await;
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "{case}");
        let file = panel
            .get(
                &format!("/cases/{case}/messages/1/attachments/0"),
                Some(&bygg),
            )
            .await;
        assert_eq!(file.status(), StatusCode::NOT_FOUND);
        for action in [
            "note", "close", "reopen", "reply", "confirm", "register", "merge",
        ] {
            let r = panel
                .post(
                    &format!("/cases/{case}/{action}"),
                    Some(&bygg),
                    &[
                        ("csrf", &csrf),
                        ("text", "x"),
                        ("body", "x"),
                        ("into", &panel.bygg_case.to_string()),
                    ],
                )
                .await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{action} on {case}");
        }
        // Search by number, by sender and by words finds nothing of theirs.
        for q in [
            case.to_string(),
            "example.se".into(),
            "förskolan".into(),
            "orosanmälan".into(),
        ] {
            let page = text(
                panel
                    .get(&format!("/search?q={}", urlencode(&q)), Some(&bygg))
                    .await,
            )
            .await;
            assert!(
                !page.contains(&format!("/cases/{case}")),
                "search {q:?} showed {case}"
            );
        }
    }
    // The queue, every status, lists only their department.
    for status in ["open", "triage", "routed", "closed", "all"] {
        let page = text(
            panel
                .get(
                    &format!("/?status={status}&department=socialtjanst"),
                    Some(&bygg),
                )
                .await,
        )
        .await;
        for case in [panel.social_case, panel.other_case, panel.triage_case] {
            assert!(
                !page.contains(&case.to_string()),
                "queue {status} showed {case}"
            );
        }
        assert!(
            !page.contains("socialtjanst ("),
            "no other department in the filters"
        );
    }
    // Statistics (and their CSV), the knowledge base, rules and the outbox are Kontaktcenter's.
    for path in [
        "/stats",
        "/stats.csv",
        "/knowledge",
        "/knowledge/new",
        "/rules",
        "/outbox",
    ] {
        assert_eq!(
            panel.get(path, Some(&bygg)).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
}

#[tokio::test]
async fn sensitive_cases_are_seen_by_their_department_and_kontaktcenter_only() {
    let panel = Panel::new(None, None).await;
    let path = format!("/cases/{}", panel.social_case);
    for (user, status) in [
        ("social", StatusCode::OK),
        ("kc", StatusCode::OK),
        ("admin", StatusCode::OK),
        ("bygg", StatusCode::NOT_FOUND),
    ] {
        let session = panel.log_in(user, PASSWORD).await.unwrap();
        assert_eq!(
            panel.get(&path, Some(&session)).await.status(),
            status,
            "{user}"
        );
    }
}

#[tokio::test]
async fn forms_without_the_sessions_token_or_from_another_site_are_refused() {
    let panel = Panel::new(None, None).await;
    let kc = panel.log_in("kc", PASSWORD).await.unwrap();
    let csrf = panel.csrf(&kc).await;
    let note = format!("/cases/{}/note", panel.bygg_case);
    let wrong = panel
        .post(
            &note,
            Some(&kc),
            &[("csrf", &"f".repeat(64)), ("text", "x")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let missing = panel.post(&note, Some(&kc), &[("text", "x")]).await;
    assert!(missing.status().is_client_error());
    // The right token, but posted from another site.
    let r = Request::post(&note)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("brevduva_session={kc}"))
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::from(format!("csrf={csrf}&text=x")))
        .unwrap();
    assert_eq!(panel.send(r).await.status(), StatusCode::FORBIDDEN);
    let page = text(
        panel
            .get(&format!("/cases/{}", panel.bygg_case), Some(&kc))
            .await,
    )
    .await;
    assert!(!page.contains("class=\"note\""), "no note was saved");
    // The right token from the same site works.
    let ok = panel
        .post(
            &note,
            Some(&kc),
            &[("csrf", &csrf), ("text", "Ringt sökanden.")],
        )
        .await;
    assert_eq!(
        location(&ok),
        format!("/cases/{}?done=note", panel.bygg_case)
    );
}

#[tokio::test]
async fn log_in_locks_after_repeated_failures_and_log_out_everywhere_ends_sessions() {
    let panel = Panel::new(None, None).await;
    assert_eq!(
        panel.log_in("nobody", PASSWORD).await,
        Err("/login?error=login_failed".into())
    );
    let first = panel.log_in("kc", PASSWORD).await.unwrap();
    let second = panel.log_in("kc", PASSWORD).await.unwrap();
    for _ in 0..4 {
        assert_eq!(
            panel.log_in("kc", "fel").await,
            Err("/login?error=login_failed".into())
        );
    }
    assert_eq!(
        panel.log_in("kc", "fel").await,
        Err("/login?error=login_locked".into())
    );
    assert_eq!(
        panel.log_in("kc", PASSWORD).await,
        Err("/login?error=login_locked".into()),
        "even the right password waits out the lock"
    );
    // Existing sessions still work; "log out everywhere" ends both.
    assert_eq!(panel.get("/", Some(&first)).await.status(), StatusCode::OK);
    let csrf = panel.csrf(&first).await;
    let out = panel
        .post("/logout-everywhere", Some(&first), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&out), "/login");
    for s in [&first, &second] {
        assert_eq!(location(&panel.get("/", Some(s)).await), "/login");
    }
    let audit: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'login-failed'")
            .fetch_one(panel.app.store().pool())
            .await
            .unwrap();
    assert_eq!(audit, 5);
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("q", s)]).unwrap()[2..].to_owned()
}

async fn every_action_does_what_it_says(database_url: Option<&str>) {
    let rules_dir = tempfile::tempdir().unwrap();
    for (path, source) in brevduva::defaults::routing_rules() {
        std::fs::write(rules_dir.path().join(path.file_name().unwrap()), source).unwrap();
    }
    let panel = Panel::new(database_url, Some(rules_dir.path().to_owned())).await;
    let admin = panel.log_in("admin", PASSWORD).await.unwrap();
    let csrf = panel.csrf(&admin).await;
    let store = panel.app.store();
    let case_path = |n: CaseNumber| format!("/cases/{n}");

    // Confirm the suggestion of the case waiting for triage.
    let r = panel
        .post(
            &format!("{}/confirm", case_path(panel.triage_case)),
            Some(&admin),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        location(&r),
        format!("{}?done=confirm", case_path(panel.triage_case))
    );
    let detail = store.case_detail(panel.triage_case).await.unwrap().unwrap();
    assert_eq!(detail.case.status.as_str(), "routed");

    // Reroute the bygg case to gata-park with a reason: forward queued, decision recorded.
    let r = panel
        .post(
            &format!("{}/reroute", case_path(panel.bygg_case)),
            Some(&admin),
            &[
                ("csrf", &csrf),
                ("department", "gata-park"),
                ("reason", "Gäller allmän platsmark"),
            ],
        )
        .await;
    assert_eq!(
        location(&r),
        format!("{}?done=reroute", case_path(panel.bygg_case))
    );
    let detail = store.case_detail(panel.bygg_case).await.unwrap().unwrap();
    assert_eq!(detail.case.department.as_deref(), Some("gata-park"));
    assert!(detail
        .decisions
        .last()
        .unwrap()
        .explanation
        .contains("Gäller allmän platsmark"));
    let unknown = panel
        .post(
            &format!("{}/reroute", case_path(panel.bygg_case)),
            Some(&admin),
            &[("csrf", &csrf), ("department", "finns-inte")],
        )
        .await;
    assert_eq!(
        location(&unknown),
        format!("{}?error=unknown_department", case_path(panel.bygg_case))
    );

    // The case page shows the reason, the suggestions and the flash.
    let page = text(
        panel
            .get(
                &format!("{}?done=reroute", case_path(panel.bygg_case)),
                Some(&admin),
            )
            .await,
    )
    .await;
    assert!(page.contains("id=\"flash\""));
    assert!(page.contains("Gäller allmän platsmark"));
    assert!(page.contains("De tre närmaste tidigare ärendena"));

    // Reply: an empty one is refused, a real one is queued once.
    let reply = format!("{}/reply", case_path(panel.bygg_case));
    let r = panel
        .post(&reply, Some(&admin), &[("csrf", &csrf), ("body", "  ")])
        .await;
    assert_eq!(
        location(&r),
        format!("{}?error=empty_reply", case_path(panel.bygg_case))
    );
    let answer = "Hej Anna! En altan på 30 kvm behöver oftast bygglov. Ring oss på 08-123 456 78.";
    let r = panel
        .post(&reply, Some(&admin), &[("csrf", &csrf), ("body", answer)])
        .await;
    assert_eq!(
        location(&r),
        format!("{}?done=reply", case_path(panel.bygg_case))
    );
    let r = panel
        .post(&reply, Some(&admin), &[("csrf", &csrf), ("body", answer)])
        .await;
    assert_eq!(
        location(&r),
        format!("{}?done=reply_again", case_path(panel.bygg_case))
    );
    let detail = store.case_detail(panel.bygg_case).await.unwrap().unwrap();
    let sent = detail
        .outgoing
        .iter()
        .find(|o| o.kind == "reply")
        .expect("a reply in the outbox");
    assert_eq!(sent.recipient, "anna@example.se");
    let actor: String = sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'reply'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        actor, "admin",
        "the audit log names the account, not the signature"
    );

    // Turn the reply into a knowledge entry: the draft shows what redaction removes.
    let draft = text(
        panel
            .get(
                &format!(
                    "/knowledge/new?case={}&outbox={}",
                    panel.bygg_case, sent.id.0
                ),
                Some(&admin),
            )
            .await,
    )
    .await;
    assert!(draft.contains("id=\"redaction\""), "{draft}");
    assert!(
        draft.contains("19121212-1212"),
        "the preview names the personnummer"
    );
    assert!(draft.contains("[personnummer]"));
    let question = draft
        .split("id=\"entry-text\" name=\"text\" maxlength=\"20000\">")
        .nth(1)
        .and_then(|s| s.split("</textarea>").next())
        .unwrap();
    assert!(!question.contains("19121212"), "{question}");
    let r = panel
        .post(
            "/knowledge",
            Some(&admin),
            &[
                ("csrf", &csrf),
                ("department", "bygg-miljo"),
                ("subject", "Bygglov för altan"),
                (
                    "text",
                    "Behöver jag bygglov för en altan? Jag heter Anna Svensson, 19121212-1212.",
                ),
                ("answer", "En altan på 30 kvm behöver oftast bygglov."),
                ("review_by", "2027-06-30"),
                ("approved", "1"),
                ("source_case", &panel.bygg_case.to_string()),
            ],
        )
        .await;
    let id = panel.bygg_case.to_string();
    assert_eq!(location(&r), format!("/knowledge/{id}?done=saved"));
    let row = store.knowledge_row(&id).await.unwrap().unwrap();
    assert!(row.entry.approved && row.review_by.as_deref() == Some("2027-06-30"));
    assert!(
        !row.entry.text.contains("19121212") && !row.entry.text.contains("Svensson"),
        "{}",
        row.entry.text
    );
    assert!(
        panel
            .app
            .triage
            .classifier()
            .index()
            .entry(&id)
            .is_some_and(|e| e.approved),
        "in use at once"
    );
    // A sensitive department's entry is refused; a bad date too.
    let r = panel
        .post(
            "/knowledge",
            Some(&admin),
            &[
                ("csrf", &csrf),
                ("department", "socialtjanst"),
                ("text", "x"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/knowledge/new?error=sensitive_entry");
    let r = panel
        .post(
            &format!("/knowledge/{id}"),
            Some(&admin),
            &[
                ("csrf", &csrf),
                ("department", "bygg-miljo"),
                ("text", "x"),
                ("review_by", "30/6"),
            ],
        )
        .await;
    assert_eq!(location(&r), format!("/knowledge/{id}?error=bad_date"));
    // Edit, then retire: out of the index at once.
    let r = panel
        .post(
            &format!("/knowledge/{id}"),
            Some(&admin),
            &[
                ("csrf", &csrf),
                ("department", "bygg-miljo"),
                ("text", "Bygglov för altan?"),
                ("answer", "Ja, oftast."),
            ],
        )
        .await;
    assert_eq!(location(&r), format!("/knowledge/{id}?done=saved"));
    assert_eq!(
        panel
            .app
            .triage
            .classifier()
            .index()
            .entry(&id)
            .unwrap()
            .answer,
        "Ja, oftast."
    );
    let due = text(panel.get("/knowledge", Some(&admin)).await).await;
    assert!(due.contains(&id));
    let r = panel
        .post(
            &format!("/knowledge/{id}/retire"),
            Some(&admin),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(location(&r), format!("/knowledge/{id}?done=retired"));
    assert!(panel.app.triage.classifier().index().entry(&id).is_none());
    assert!(store.knowledge_row(&id).await.unwrap().unwrap().retired);

    // Note, register, merge, close, reopen.
    let other = case_path(panel.other_case);
    let r = panel
        .post(
            &format!("{other}/note"),
            Some(&admin),
            &[("csrf", &csrf), ("text", "Väntar på svar.")],
        )
        .await;
    assert_eq!(location(&r), format!("{other}?done=note"));
    panel
        .post(
            &format!("{other}/register"),
            Some(&admin),
            &[("csrf", &csrf)],
        )
        .await;
    let r = panel
        .post(
            &format!("{other}/merge"),
            Some(&admin),
            &[("csrf", &csrf), ("into", &panel.other_case.to_string())],
        )
        .await;
    assert_eq!(
        location(&r),
        format!("{other}?error=merge_target"),
        "not into itself"
    );
    let r = panel
        .post(
            &format!("{other}/merge"),
            Some(&admin),
            &[("csrf", &csrf), ("into", &panel.triage_case.to_string())],
        )
        .await;
    assert_eq!(
        location(&r),
        format!("{}?done=merge", case_path(panel.triage_case))
    );
    let merged = store.case_detail(panel.other_case).await.unwrap().unwrap();
    assert!(merged.registered && merged.notes.len() == 1);
    assert_eq!(merged.case.status.as_str(), "closed");
    assert_eq!(merged.merged_into, Some(panel.triage_case.to_string()));
    let target = store.case_detail(panel.triage_case).await.unwrap().unwrap();
    assert_eq!(target.messages.len(), 2, "the duplicate's message joined");
    panel
        .post(&format!("{other}/reopen"), Some(&admin), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        store
            .case_detail(panel.other_case)
            .await
            .unwrap()
            .unwrap()
            .case
            .status
            .as_str(),
        "routed"
    );
    panel
        .post(&format!("{other}/close"), Some(&admin), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        store
            .case_detail(panel.other_case)
            .await
            .unwrap()
            .unwrap()
            .case
            .status
            .as_str(),
        "closed"
    );

    // Rules: a test shows why; a broken edit is refused with its line; a good one reloads.
    let test = text(
        panel
            .get(
                "/rules?text=Jag+vill+s%C3%B6ka+bygglov+f%C3%B6r+en+altan",
                Some(&admin),
            )
            .await,
    )
    .await;
    assert!(
        test.contains("id=\"test-result\"") && test.contains("bygg-miljo"),
        "{test}"
    );
    let file = rules_dir.path().join("gata-park.toml");
    let before = std::fs::read_to_string(&file).unwrap();
    let r = panel
        .post(
            "/rules/gata-park",
            Some(&admin),
            &[
                ("csrf", &csrf),
                ("source", "id = \"gata-park\"\nname = [\n"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(r).await;
    assert!(
        page.contains("id=\"problems\"") && page.contains("gata-park.toml:"),
        "{page}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "nothing written"
    );
    assert!(store
        .rule_history("gata-park", 10)
        .await
        .unwrap()
        .is_empty());
    let edited = format!("{before}\n[[keywords]]\nterm = \"gungställning\"\nweight = 3.0\n");
    let r = panel
        .post(
            "/rules/gata-park",
            Some(&admin),
            &[("csrf", &csrf), ("source", &edited)],
        )
        .await;
    assert_eq!(location(&r), "/rules/gata-park?done=rules_saved");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "the edit is kept in the database, the file stays as it was"
    );
    let test = text(
        panel
            .get("/rules?text=gungst%C3%A4llning", Some(&admin))
            .await,
    )
    .await;
    assert!(
        test.contains("gungställning (3.0)"),
        "the new keyword counts at once"
    );
    let page = text(panel.get("/rules/gata-park", Some(&admin)).await).await;
    assert!(
        page.contains("id=\"edited\"")
            && page.contains("gungställning")
            && page.contains("id=\"rule-revert\""),
        "{page}"
    );
    // Going back to the file: the keyword no longer counts; both versions stay on record.
    let r = panel
        .post("/rules/gata-park/revert", Some(&admin), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&r), "/rules/gata-park?done=rules_reverted");
    let test = text(
        panel
            .get("/rules?text=gungst%C3%A4llning", Some(&admin))
            .await,
    )
    .await;
    assert!(!test.contains("gungställning (3.0)"), "{test}");
    let page = text(panel.get("/rules/gata-park", Some(&admin)).await).await;
    assert!(!page.contains("id=\"edited\"") && !page.contains("gungställning\""));
    // Sent twice, the second changes nothing.
    let r = panel
        .post("/rules/gata-park/revert", Some(&admin), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&r), "/rules/gata-park?done=rules_reverted");
    let history = store.rule_history("gata-park", 10).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|v| (v.edited_by.as_str(), v.reverted))
            .collect::<Vec<_>>(),
        vec![("admin", true), ("admin", false)]
    );

    // Statistics and their CSV count what happened.
    let csv = text(panel.get("/stats.csv", Some(&admin)).await).await;
    assert!(csv.starts_with("week,department,cases\n"), "{csv}");
    assert!(csv.contains("gata-park"));
    let stats = text(panel.get("/stats", Some(&admin)).await).await;
    assert!(stats.contains("<svg class=\"chart\" role=\"img\""));

    // A person's export and erasure, and a legal hold, from the panel.
    let hold = panel
        .post(
            &format!("{}/hold", case_path(panel.social_case)),
            Some(&admin),
            &[("csrf", &csrf), ("on", "1")],
        )
        .await;
    assert_eq!(
        location(&hold),
        format!("{}?done=hold", case_path(panel.social_case))
    );
    assert!(
        store
            .case_detail(panel.social_case)
            .await
            .unwrap()
            .unwrap()
            .legal_hold
    );
    let export = panel
        .post(
            "/privacy/export",
            Some(&admin),
            &[("csrf", &csrf), ("email", "bo@example.se")],
        )
        .await;
    assert_eq!(export.status(), StatusCode::OK);
    assert_eq!(export.headers()[header::CONTENT_TYPE], "application/x-tar");
    let unsure = panel
        .post(
            "/privacy/erase",
            Some(&admin),
            &[("csrf", &csrf), ("email", "bo@example.se")],
        )
        .await;
    assert_eq!(location(&unsure), "/privacy?error=not_sure");
    let erased = panel
        .post(
            "/privacy/erase",
            Some(&admin),
            &[("csrf", &csrf), ("email", "bo@example.se"), ("sure", "1")],
        )
        .await;
    assert_eq!(erased.status(), StatusCode::OK);
    let report = text(erased).await;
    assert!(
        report.contains("id=\"erase-report\"") && report.contains(&panel.social_case.to_string()),
        "{report}"
    );
    assert!(
        !store
            .case_detail(panel.social_case)
            .await
            .unwrap()
            .unwrap()
            .messages[0]
            .body_text
            .is_empty(),
        "legal hold"
    );

    // Every action is in the audit log.
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT action FROM audit_log ORDER BY action")
            .fetch_all(store.pool())
            .await
            .unwrap();
    for a in [
        "confirm",
        "reroute",
        "reply",
        "note",
        "register",
        "merge",
        "close",
        "reopen",
        "knowledge-saved",
        "knowledge-retired",
        "rules-edited",
        "rules-reverted",
        "login",
        "legal-hold",
        "privacy-export",
        "privacy-erase",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn every_action_does_what_it_says_on_sqlite() {
    every_action_does_what_it_says(None).await;
}

#[tokio::test]
async fn every_action_does_what_it_says_on_postgres() {
    let url = helpers::postgres_database().await;
    every_action_does_what_it_says(Some(&url)).await;
}

#[tokio::test]
async fn rules_edited_in_the_panel_apply_without_a_rules_folder_and_after_a_restart() {
    let panel = Panel::new(None, None).await;
    let admin = panel.log_in("admin", PASSWORD).await.unwrap();
    let csrf = panel.csrf(&admin).await;
    let kc = panel.log_in("kc", PASSWORD).await.unwrap();
    let kc_csrf = panel.csrf(&kc).await;
    let store = panel.app.store();
    let shipped = brevduva::defaults::routing_rules()
        .into_iter()
        .find(|(p, _)| p.ends_with("kultur-fritid.toml"))
        .unwrap()
        .1;
    let edited = format!("{shipped}\n[[keywords]]\nterm = \"drakflygning\"\nweight = 4.0\n");

    // Kontaktcenter may read the rules, only admins change them.
    let page = text(panel.get("/rules/kultur-fritid", Some(&kc)).await).await;
    assert!(!page.contains("id=\"rule-edit\""), "{page}");
    let r = panel
        .post(
            "/rules/kultur-fritid",
            Some(&kc),
            &[("csrf", &kc_csrf), ("source", &edited)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A file whose id is changed is refused with its line, and nothing is kept.
    let renamed = shipped.replace("id = \"kultur-fritid\"", "id = \"kultur\"");
    let r = panel
        .post(
            "/rules/kultur-fritid",
            Some(&admin),
            &[("csrf", &csrf), ("source", &renamed)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = text(r).await;
    assert!(page.contains("kultur-fritid.toml:"), "{page}");
    assert!(
        page.contains("id = &quot;kultur&quot;") || page.contains("id = \"kultur\""),
        "the refused text is shown again to be mended"
    );
    assert!(store
        .rule_history("kultur-fritid", 10)
        .await
        .unwrap()
        .is_empty());

    let r = panel
        .post(
            "/rules/kultur-fritid",
            Some(&admin),
            &[("csrf", &csrf), ("source", &edited)],
        )
        .await;
    assert_eq!(location(&r), "/rules/kultur-fritid?done=rules_saved");
    let routes = |app: &Application| {
        app.triage
            .classifier()
            .rules()
            .evaluate("Får man ägna sig åt drakflygning i parken?", None, &[])
            .matches
            .iter()
            .any(|m| m.keywords.iter().any(|(k, _)| k == "drakflygning"))
    };
    assert!(routes(&panel.app), "in use at once");

    // Started again on the same database, Brevduva routes by the edited rules.
    let second = tempfile::tempdir().unwrap();
    let mut config = helpers::config(second.path(), None);
    config.storage.database_url = panel.app.config.database_url();
    let restarted = Application::build(config).await.unwrap();
    assert!(routes(&restarted), "kept over a restart");
    assert_eq!(
        restarted
            .triage
            .classifier()
            .rules()
            .department("kultur-fritid")
            .map(|d| d.name.as_str()),
        Some("Kultur och fritid"),
        "the rest of the file is as edited"
    );

    // An edit that no longer fits the files (as after an upgrade that changed them) is left
    // out: Brevduva still starts, the file's rules apply, and the page says so.
    store
        .save_rule_edit("gata-park", Some("id = \"gata-park\"\nname = [\n"), "admin")
        .await
        .unwrap();
    let third = tempfile::tempdir().unwrap();
    let mut config = helpers::config(third.path(), None);
    config.storage.database_url = panel.app.config.database_url();
    let restarted = Application::build(config).await.unwrap();
    assert!(routes(&restarted), "the other edit still applies");
    assert!(restarted
        .triage
        .classifier()
        .rules()
        .department("gata-park")
        .is_some());
    let page = text(panel.get("/rules/gata-park", Some(&admin)).await).await;
    assert!(page.contains("id=\"edit-left-out\""), "{page}");
    assert!(
        page.contains("forward_to"),
        "the file's text is shown: {page}"
    );
}

#[tokio::test]
async fn rule_files_changed_on_disk_are_put_in_use_while_running_and_broken_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    for (path, source) in brevduva::defaults::routing_rules() {
        std::fs::write(rules_dir.join(path.file_name().unwrap()), source).unwrap();
    }
    let mut config = helpers::config(dir.path(), None);
    config.routing.rules_dir = Some(rules_dir.clone());
    let app = Application::build(config).await.unwrap();
    let source = brevduva::cluster::RuleSource {
        rules_dir: Some(rules_dir.clone()),
        fallback: app.config.routing.fallback_department.clone(),
    };
    let classifier = app.triage.classifier();
    let routes_by_new_word = || {
        classifier
            .rules()
            .evaluate("Får man ägna sig åt drakflygning i parken?", None, &[])
            .matches
            .iter()
            .any(|m| m.keywords.iter().any(|(k, _)| k == "drakflygning"))
    };
    let refresh = |seen| brevduva::cluster::refresh_rules(app.store(), classifier, &source, seen);

    // Nothing changed: nothing happens.
    let seen = refresh(app.rules_seen).await.unwrap();
    assert_eq!(seen, app.rules_seen);
    assert!(!routes_by_new_word());

    // A keyword added to a file is in use after the next look.
    let file = rules_dir.join("kultur-fritid.toml");
    let shipped = std::fs::read_to_string(&file).unwrap();
    let edited = format!("{shipped}\n[[keywords]]\nterm = \"drakflygning\"\nweight = 4.0\n");
    std::fs::write(&file, &edited).unwrap();
    let seen = refresh(seen).await.unwrap();
    assert_ne!(seen, app.rules_seen);
    assert!(routes_by_new_word(), "the changed file is in use");

    // A file that does not parse, and a new department (which needs a restart), are not put
    // in use: the rules in use stay, and the change is taken only once.
    std::fs::write(&file, "id = \"kultur-fritid\"\nname = [\n").unwrap();
    let broken = refresh(seen).await.unwrap();
    assert_ne!(broken, seen);
    assert!(routes_by_new_word(), "the rules in use stay");
    assert_eq!(refresh(broken).await.unwrap(), broken);
    std::fs::write(&file, &edited).unwrap();
    let department = brevduva::defaults::routing_rules()
        .into_iter()
        .find(|(p, _)| p.ends_with("naringsliv.toml"))
        .unwrap()
        .1
        .replace("id = \"naringsliv\"", "id = \"hamn\"");
    std::fs::write(rules_dir.join("hamn.toml"), department).unwrap();
    let seen = refresh(broken).await.unwrap();
    assert!(classifier.rules().department("hamn").is_none());

    // Mended, the files are followed again.
    std::fs::remove_file(rules_dir.join("hamn.toml")).unwrap();
    std::fs::write(&file, &shipped).unwrap();
    refresh(seen).await.unwrap();
    assert!(!routes_by_new_word(), "the file as it is now");
}

#[tokio::test]
async fn operations_read_readiness_and_metrics_without_personal_data() {
    let panel = Panel::new(None, None).await;
    // Two mailboxes read once, so the per-mailbox families have several lines.
    for mailbox in ["kc/INBOX", "kc/Arkiv"] {
        panel.app.store().mailbox_succeeded(mailbox).await.unwrap();
    }
    let metrics = |from: [u8; 4], token: Option<&str>| {
        let mut r = Request::get("/metrics");
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let mut r = r.body(Body::empty()).unwrap();
        r.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                from, 40000,
            ))));
        r
    };
    assert_eq!(text(panel.get("/readyz", None).await).await, "ready");
    // Only this machine may read the metrics when no token is configured.
    assert_eq!(
        panel.send(metrics([192, 0, 2, 7], None)).await.status(),
        StatusCode::FORBIDDEN
    );
    let response = panel.send(metrics([127, 0, 0, 1], None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = text(response).await;
    for line in [
        "brevduva_cases_waiting_for_triage 1\n",
        "brevduva_mails_total{outcome=\"new_case\"} 4\n",
        "brevduva_classification_seconds_count 4\n",
        "brevduva_outbox_entries{state=\"pending\"}",
    ] {
        assert!(body.contains(line), "{line} missing from:\n{body}");
    }
    assert!(body.contains("brevduva_oldest_triage_age_seconds "));
    // Prometheus' text format: every family's lines form one group.
    let mut finished: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name)
            .to_owned();
        if family != current {
            assert!(
                !finished.contains(&family),
                "{family} split into two groups:\n{body}"
            );
            finished.push(std::mem::replace(&mut current, family));
        }
    }
    for personal in ["@example.se", "Svensson", "altan"] {
        assert!(!body.contains(personal), "{personal} in the metrics");
    }
    // With a token configured, the token is what counts.
    let dir = tempfile::tempdir().unwrap();
    let mut config = helpers::config(dir.path(), None);
    config.web.metrics_token = Some(brevduva::config::Secret::new("m3tr1cs-token"));
    let app = Application::build(config).await.unwrap();
    let with_token = router(PanelState::new(
        app.triage.clone(),
        PanelSettings::from_config(&app.config),
    ));
    let status = |r: Request<Body>| {
        let with_token = with_token.clone();
        async move { with_token.oneshot(r).await.unwrap().status() }
    };
    assert_eq!(
        status(metrics([127, 0, 0, 1], None)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(metrics([192, 0, 2, 7], Some("wrong"))).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(metrics([192, 0, 2, 7], Some("m3tr1cs-token"))).await,
        StatusCode::OK
    );
}

async fn queue_order(database_url: Option<&str>) {
    let panel = Panel::new(database_url, None).await;
    let kc = panel.log_in("kc", PASSWORD).await.unwrap();
    // An urgent case arrives last.
    let urgent = match panel
        .app
        .triage
        .process(
            mail(
                5,
                "Eva Ek <eva@example.se>",
                "Vattenläcka",
                "Det är en vattenläcka på gatan, vattnet forsar ut!",
                false,
            ),
            "test",
        )
        .await
        .unwrap()
    {
        Outcome::NewCase { number, .. } => number,
        other => panic!("{other:?}"),
    };
    let page = text(panel.get("/", Some(&kc)).await).await;
    let listed: Vec<String> = page
        .split("href=\"/cases/")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    // Expected from each case's own status, urgency and age.
    let mut cases = Vec::new();
    for n in [
        panel.bygg_case,
        panel.social_case,
        panel.other_case,
        panel.triage_case,
        urgent,
    ] {
        cases.push(
            panel
                .app
                .store()
                .case_detail(n)
                .await
                .unwrap()
                .unwrap()
                .case,
        );
    }
    assert!(cases[4].flags.urgent, "the leak is urgent");
    assert!(cases[1].flags.urgent, "an orosanmälan is urgent too");
    cases.sort_by_key(|c| {
        (
            c.status.as_str() != "triage",
            !c.flags.urgent,
            c.created_at,
            c.id.0,
        )
    });
    let expected: Vec<String> = cases.iter().map(|c| c.number.to_string()).collect();
    assert_eq!(expected[0], panel.triage_case.to_string());
    assert_eq!(listed, expected, "triage first, then urgent, then oldest");
}

#[tokio::test]
async fn the_queue_puts_triage_first_then_urgent_then_oldest_on_sqlite() {
    queue_order(None).await;
}

#[tokio::test]
async fn the_queue_puts_triage_first_then_urgent_then_oldest_on_postgres() {
    let url = helpers::postgres_database().await;
    queue_order(Some(&url)).await;
}
