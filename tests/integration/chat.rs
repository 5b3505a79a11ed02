//! The citizen chat through the panel's router: answers only from approved entries of
//! shared departments, in the language asked, urgent matters first, the handoff to a case
//! through the mail pipeline, limits, no cookies, the statistics and their anonymisation.
//! The browser tests (`browser.rs`) drive the same chat in real Chromium.

use crate::helpers;
use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use brevduva::app::Application;
use brevduva::web::{router, PanelSettings, PanelState};
use serde_json::{json, Value};
use tower::ServiceExt;

const KB: &str = r#"{"id": "sop", "department": "vatten-avfall", "subject": "Sophämtning", "text": "När töms soptunnan?", "answer": "Soptunnan töms varannan vecka. Tömningsschemat för din adress finns på kommunens webbplats under Avfall.", "approved": true}
{"id": "sop-en", "department": "vatten-avfall", "subject": "Waste collection", "text": "When is the bin emptied?", "answer": "The bin is emptied every other week. The schedule for your address is on the municipality's website under Waste.", "approved": true}
{"id": "sop-uk", "department": "vatten-avfall", "subject": "Вивіз сміття", "text": "Коли вивозять сміття?", "answer": "Сміттєвий контейнер спорожнюють раз на два тижні. Графік для вашої адреси є на сайті муніципалітету.", "approved": true}
{"id": "bibliotek", "department": "kultur-fritid", "subject": "Bibliotekets öppettider", "text": "När har biblioteket öppet?", "answer": "Stadsbiblioteket har öppet 10–19 på vardagar och 11–15 på lördagar.", "approved": true}
{"id": "bygglov", "department": "bygg-miljo", "subject": "Bygglov altan", "text": "Behöver jag bygglov för en altan?", "answer": "En altan högre än 1,2 meter kräver oftast bygglov.", "approved": false}
{"id": "bistand", "department": "socialtjanst", "subject": "Ekonomiskt bistånd", "text": "Hur ansöker jag om ekonomiskt bistånd?", "answer": "Du ansöker om ekonomiskt bistånd hos socialtjänsten via e-tjänsten.", "approved": true}
{"id": "hemtjanst", "department": "omsorg", "subject": "Hemtjänst", "text": "Hur ansöker jag om hemtjänst för min mamma?", "answer": "Kontakta biståndshandläggaren i omsorgen för att ansöka om hemtjänst.", "approved": true}
{"id": "kc", "department": "kontaktcenter", "subject": "Kommunhuset", "text": "När har kommunhuset öppet?", "answer": "Kommunhusets reception har öppet 8–16.30 på vardagar.", "approved": true}
"#;

fn today() -> time::Date {
    brevduva::domain::working_days::swedish_today()
}

struct Chat {
    app: Application,
    router: Router,
    _dir: tempfile::TempDir,
}

impl Chat {
    async fn new(requests_per_minute: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kb = dir.path().join("kb");
        std::fs::create_dir_all(&kb).unwrap();
        std::fs::write(kb.join("kb.jsonl"), KB).unwrap();
        let mut config = helpers::config(dir.path(), None);
        config.routing.knowledge_dir = Some(kb);
        config.chat.requests_per_minute_per_client = requests_per_minute;
        config.chat.embed_origins = vec!["https://www.kommun.example".into()];
        let app = Application::build(config).await.unwrap();
        let router = router(PanelState::new(
            app.triage.clone(),
            PanelSettings::from_config(&app.config),
        ));
        Self {
            app,
            router,
            _dir: dir,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .router
            .clone()
            .oneshot(
                Request::post(path)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(
            response.headers().get(header::SET_COOKIE).is_none(),
            "the chat sets no cookies"
        );
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ask(&self, message: &str) -> Value {
        let (status, reply) = self
            .post(
                "/api/chat",
                json!({ "conversation_id": "test-conversation-1", "message": message }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{message}: {reply}");
        reply
    }

    async fn get(&self, path: &str) -> Response<Body> {
        self.router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_chat_answers_only_from_approved_entries_of_shared_departments() {
    let chat = Chat::new(1000).await;
    let reply = chat.ask("När töms soptunnan hos mig?").await;
    assert_eq!(reply["kind"], "answer", "{reply}");
    assert_eq!(reply["source"]["id"], "sop");
    assert!(reply["text"]
        .as_str()
        .unwrap()
        .starts_with("Soptunnan töms varannan vecka"));
    assert!(reply["confidence"].as_f64().unwrap() >= 0.5);
    assert_eq!(reply["handoff_offered"], false);
    // Unapproved entries and sensitive departments' entries are never given, not even as
    // topics, although the sensitive ones are marked approved.
    for question in [
        "Behöver jag bygglov för en altan?",
        "Hur ansöker jag om ekonomiskt bistånd?",
        "Hur ansöker jag om hemtjänst för min mamma?",
        "Jag behöver ekonomiskt bistånd och hemtjänst",
    ] {
        let reply = chat.ask(question).await;
        assert_ne!(reply["kind"], "answer", "{question}: {reply}");
        let text = reply.to_string();
        for secret in [
            "bistand",
            "hemtjanst",
            "bygglov\"",
            "socialtjänsten via",
            "biståndshandläggaren",
        ] {
            assert!(!text.contains(secret), "{question}: {secret} in {reply}");
        }
        assert_eq!(reply["handoff_offered"], true);
    }
    // The sensitive questions are counted in the statistics, never kept as text.
    let store = chat.app.store();
    let mut kept: Vec<(String, String)> = Vec::new();
    for _ in 0..60 {
        kept =
            sqlx::query_as("SELECT kind, COALESCE(question, '') FROM chat_questions ORDER BY id")
                .fetch_all(store.pool())
                .await
                .unwrap();
        if kept.len() >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(kept.len(), 5, "{kept:?}");
    assert!(
        kept[0].1.contains("soptunnan"),
        "an ordinary question is kept (redacted)"
    );
    for (kind, question) in &kept[2..] {
        assert!(
            !question.contains("bistånd") && !question.contains("hemtjänst"),
            "{kind}: {question}"
        );
    }

    // A suggested topic is answered by id; an unapproved or sensitive one is not found.
    let (status, reply) = chat
        .post(
            "/api/chat",
            json!({ "conversation_id": "test-conversation-1", "topic": "bibliotek" }),
        )
        .await;
    assert_eq!(
        (status, reply["source"]["id"].as_str()),
        (StatusCode::OK, Some("bibliotek"))
    );
    for topic in ["bistand", "bygglov", "finns-inte"] {
        let (status, reply) = chat
            .post(
                "/api/chat",
                json!({ "conversation_id": "test-conversation-1", "topic": topic }),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{topic}: {reply}");
    }
}

#[tokio::test]
async fn the_chat_answers_in_the_language_asked() {
    let chat = Chat::new(1000).await;
    let reply = chat.ask("When is the bin emptied at my house?").await;
    assert_eq!(
        (reply["source"]["id"].as_str(), reply["language"].as_str()),
        (Some("sop-en"), Some("en")),
        "{reply}"
    );
    let reply = chat.ask("Коли вивозять сміття з мого будинку?").await;
    assert_eq!(
        (reply["source"]["id"].as_str(), reply["language"].as_str()),
        (Some("sop-uk"), Some("uk")),
        "{reply}"
    );
    // No Arabic answer: the Swedish one, with a note in Arabic... or "not sure" in Arabic.
    let reply = chat.ask("ما هي مواعيد فتح kommunhuset؟").await;
    assert_eq!(reply["asked_in"], "ar", "{reply}");
    if reply["kind"] == "answer" {
        assert_eq!(reply["language"], "sv");
        assert!(reply["note"].as_str().unwrap().contains("السويدية"));
    } else {
        assert_eq!(reply["language"], "ar");
    }
}

#[tokio::test]
async fn urgent_matters_are_answered_first_in_four_languages() {
    let chat = Chat::new(1000).await;
    for (message, matter, number, language) in [
        ("Det brinner i soptunnan utanför!", "emergency", "112", "sv"),
        ("I want to end my life", "self-harm", "90101", "en"),
        (
            "У мене вкрали велосипед біля бібліотеки",
            "crime",
            "114 14",
            "uk",
        ),
        ("طفلي مريض ولديه حمى", "health", "1177", "ar"),
    ] {
        let reply = chat.ask(message).await;
        assert_eq!(reply["kind"], "urgent", "{message}: {reply}");
        assert_eq!(reply["urgent"], matter);
        assert_eq!(reply["language"], language);
        assert!(reply["text"].as_str().unwrap().contains(number), "{reply}");
        assert!(reply["source"].is_null(), "nothing else comes first");
    }
}

#[tokio::test]
async fn a_handoff_becomes_a_chat_case_with_an_acknowledgement_by_mail() {
    let chat = Chat::new(1000).await;
    let question = "Kan jag hyra kommunens festlokal i Folkets park till ett bröllop i juni?";
    let reply = chat.ask(question).await;
    assert_eq!(reply["kind"], "not-sure", "{reply}");
    let handoff = |email: &str, consent: bool| {
        json!({ "conversation_id": "test-conversation-1", "email": email, "consent": consent,
                "question": question, "language": "sv" })
    };
    let (status, refused) = chat
        .post("/api/chat/handoff", handoff("anna@example.se", false))
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("consent_required"))
    );
    let (status, refused) = chat
        .post("/api/chat/handoff", handoff("inte en adress", true))
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_email"))
    );
    assert_eq!(
        chat.app.store().counts().await.unwrap().cases,
        0,
        "nothing created yet"
    );

    let (status, created) = chat
        .post("/api/chat/handoff", handoff("anna@example.se", true))
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let number = created["case_number"].as_str().unwrap().to_owned();
    let detail = chat
        .app
        .store()
        .case_detail(number.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.channel, "chat");
    assert_eq!(detail.citizen_address.as_deref(), Some("anna@example.se"));
    assert!(detail.messages[0]
        .body_text
        .contains("festlokal i Folkets park"));
    assert!(
        detail
            .outgoing
            .iter()
            .any(|o| o.kind == "acknowledgement" && o.recipient == "anna@example.se"),
        "the citizen gets the acknowledgement with the case number by mail"
    );
    // The same handoff again finds the same case.
    let (_, again) = chat
        .post("/api/chat/handoff", handoff("anna@example.se", true))
        .await;
    assert_eq!(again["case_number"].as_str(), Some(number.as_str()));
    assert_eq!(chat.app.store().counts().await.unwrap().cases, 1);
}

#[tokio::test]
async fn limits_hold_and_questions_are_kept_anonymous_after_their_time() {
    let chat = Chat::new(3).await;
    let long = "a".repeat(1001);
    let (status, refused) = chat
        .post(
            "/api/chat",
            json!({ "conversation_id": "test-conversation-2", "message": long }),
        )
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_long"))
    );
    let (status, _) = chat
        .post(
            "/api/chat",
            json!({ "conversation_id": "<bad>", "message": "hej" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = chat.post("/api/chat", json!("not an object")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Refused messages count too: this third one is the last allowed this minute.
    let (status, _) = chat
        .post("/api/chat", json!({ "conversation_id": "test-conversation-2", "message": "Jag heter Anna Svensson, 070-123 45 67. När töms soptunnan?" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = chat
        .post("/api/chat", json!({ "conversation_id": "test-conversation-2", "message": "När har biblioteket öppet?", "language": "en" }))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused["error"], "rate_limited");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("many questions"));

    // The question was recorded redacted; after its time only anonymous figures stay.
    let store = chat.app.store();
    let mut stats = store.chat_stats(today(), today()).await.unwrap();
    for _ in 0..50 {
        if stats.questions > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        stats = store.chat_stats(today(), today()).await.unwrap();
    }
    assert_eq!(stats.questions, 1);
    let kept: Option<String> = sqlx::query_scalar("SELECT question FROM chat_questions")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let kept = kept.unwrap();
    assert!(
        !kept.contains("Svensson") && !kept.contains("070-123"),
        "{kept}"
    );
    assert_eq!(
        store
            .anonymise_chat_questions(brevduva::store::now() + 1)
            .await
            .unwrap(),
        1
    );
    let row: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT question, conversation_id FROM chat_questions")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(row, (None, None));
    let after = store.chat_stats(today(), today()).await.unwrap();
    assert_eq!(
        (after.questions, after.answered),
        (stats.questions, stats.answered),
        "the figures stay"
    );
}

#[tokio::test]
async fn the_page_the_embed_script_and_the_openapi_document_are_served() {
    let chat = Chat::new(1000).await;
    let page = chat.get("/chat?lang=ar").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("connect-src 'self'")
            && csp.contains("frame-ancestors 'self' https://www.kommun.example"),
        "{csp}"
    );
    assert!(page.headers().get(header::X_FRAME_OPTIONS).is_none());
    assert!(page.headers().get(header::SET_COOKIE).is_none());
    let html = String::from_utf8(
        axum::body::to_bytes(page.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("<html lang=\"ar\" dir=\"rtl\">"));
    assert!(html.contains("aria-live=\"polite\""));
    let embed = chat.get("/chat/embed.js").await;
    assert_eq!(
        embed.headers()[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    let openapi = chat.get("/api/openapi.json").await;
    let doc: Value = serde_json::from_slice(
        &axum::body::to_bytes(openapi.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(doc["paths"]["/api/chat"]["post"].is_object());
    assert!(doc["paths"]["/api/chat/handoff"]["post"].is_object());
    // The panel keeps its own, stricter policy.
    let login = chat.get("/login").await;
    assert!(login.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
}
