//! Replies, campaigns and automatic answers through the real pipeline: a person's reply is
//! threaded to the citizen's message (checked by parsing the queued mail back), the
//! citizen's answer joins the case, campaigns are counted, and an automatic FAQ answer
//! never goes out for sensitive or urgent cases.

use crate::helpers;
use brevduva::app::Application;
use brevduva::config::CampaignConfig;
use brevduva::domain::{CaseNumber, OutboxKind};
use brevduva::triage::Outcome;
use mail_parser::MessageParser;

fn mail(id: &str, to: &str, subject: &str, text: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: Eva Lind <eva.lind@example.se>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{id}@example.se>\r\n{extra}Date: Fri, 27 Nov 2026 21:15:00 +0100\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    )
    .into_bytes()
}

async fn new_case(app: &Application, raw: Vec<u8>) -> (brevduva::domain::CaseId, CaseNumber) {
    match app.triage.process(raw, "test").await.unwrap() {
        Outcome::NewCase {
            case_id, number, ..
        } => (case_id, number),
        other => panic!("{other:?}"),
    }
}

async fn queued(
    app: &Application,
    case: brevduva::domain::CaseId,
    kind: OutboxKind,
) -> Vec<Vec<u8>> {
    app.store()
        .outbox_for_case(case)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.raw)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_threaded_quoted_and_answered_into_the_same_case() {
    let dir = tempfile::tempdir().unwrap();
    let app = helpers::app(dir.path(), None).await;
    let (case_id, number) = new_case(
        &app,
        mail(
            "q1",
            "kontaktcenter@kommun.example",
            "Uterum",
            "Behöver vi bygglov för ett inglasat uterum på 20 kvadratmeter?",
            "References: <earlier@example.se>\r\n",
        ),
    )
    .await;

    // Suggested replies: past answers made into ready replies with the case number.
    let suggestions = app
        .triage
        .suggest_replies(number, "Anna Berg")
        .await
        .unwrap();
    assert!(!suggestions.is_empty() && suggestions.len() <= 3);
    for s in &suggestions {
        assert!(s.subject.contains(&number.to_string()), "{}", s.subject);
        assert!(
            s.body.contains("Anna Berg") && s.body.len() > 80,
            "{}",
            s.body
        );
    }

    let answer =
        "Ja, ett inglasat uterum på 20 kvadratmeter behöver bygglov. Ansökan görs i e-tjänsten.";
    let sent = app
        .triage
        .send_reply(number, answer, "Anna Berg", "anna.berg")
        .await
        .unwrap();
    let message_id = sent.expect("queued");
    assert_eq!(
        app.triage
            .send_reply(number, answer, "Anna Berg", "anna.berg")
            .await
            .unwrap(),
        None,
        "the same reply twice is queued once"
    );
    assert!(app
        .triage
        .send_reply(number, "  ", "Anna Berg", "anna.berg")
        .await
        .is_err());

    let replies = queued(&app, case_id, OutboxKind::Reply).await;
    assert_eq!(replies.len(), 1);
    let parsed = MessageParser::default().parse(&replies[0]).unwrap();
    assert_eq!(parsed.in_reply_to().as_text(), Some("q1@example.se"));
    let references: Vec<String> = parsed
        .references()
        .as_text_list()
        .map(|l| l.iter().map(|r| r.to_string()).collect())
        .unwrap_or_default();
    assert_eq!(references, ["earlier@example.se", "q1@example.se"]);
    assert!(parsed.subject().unwrap().contains(&number.to_string()));
    assert!(
        parsed.header("Auto-Submitted").is_none(),
        "a person wrote it"
    );
    assert_eq!(
        parsed.to().unwrap().first().unwrap().address(),
        Some("eva.lind@example.se")
    );
    let body = parsed.body_text(0).unwrap();
    assert!(body.contains(answer));
    assert!(body.contains("> Behöver vi bygglov"), "{body}");
    assert!(body.contains("skrev eva.lind@example.se"), "{body}");
    assert_eq!(
        parsed.message_id(),
        Some(message_id.as_str()),
        "the outbox row and the mail share the Message-ID"
    );

    // The citizen answers the reply: the answer joins the case.
    let answer_back = mail(
        "q2",
        "kontaktcenter@kommun.example",
        "Re: Svar",
        "Tack! Var hittar jag e-tjänsten?",
        &format!("In-Reply-To: <{message_id}>\r\n"),
    );
    assert_eq!(
        app.triage.process(answer_back, "test").await.unwrap(),
        Outcome::Joined { case_id, number }
    );
    let delivered = app.flush_outbox().await.unwrap();
    assert!(delivered.sent >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaigns_are_stored_on_cases_and_counted_per_day() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = helpers::config(dir.path(), None);
    config.campaigns = vec![CampaignConfig {
        id: "ukraina".into(),
        name: "Stöd till Ukraina".into(),
        plus_tags: vec!["ukraina".into()],
        subject_tags: vec!["#ukraina".into()],
    }];
    let app = Application::build(config).await.unwrap();
    new_case(
        &app,
        mail(
            "c1",
            "kontaktcenter+ukraina@kommun.example",
            "Boende",
            "Var kan vi bo?",
            "",
        ),
    )
    .await;
    new_case(
        &app,
        mail(
            "c2",
            "kontaktcenter@kommun.example",
            "Skola #Ukraina",
            "Skolplats för två barn?",
            "",
        ),
    )
    .await;
    new_case(
        &app,
        mail(
            "c3",
            "kontaktcenter@kommun.example",
            "Sopor",
            "Soptunnan är inte tömd.",
            "",
        ),
    )
    .await;
    let today =
        brevduva::domain::working_days::swedish_local(time::OffsetDateTime::now_utc()).date();
    let stats = app.store().enquiry_stats(today).await.unwrap();
    assert_eq!(stats.total, 3);
    assert_eq!(stats.per_campaign.get("ukraina"), Some(&2));
    assert_eq!(stats.per_campaign.get("-"), Some(&1));
    assert_eq!(stats.per_day.get(&today.to_string()), Some(&3));
    assert_eq!(stats.per_language.values().sum::<u64>(), 3);
    assert_eq!(stats.overdue, 0);
    let tomorrow = today.next_day().unwrap();
    assert_eq!(app.store().enquiry_stats(tomorrow).await.unwrap().total, 0);
    let cases = app.store().recent_cases(3).await.unwrap();
    assert!(cases
        .iter()
        .all(|c| c.reply_due.as_deref() > Some(today.to_string().as_str()) && !c.overdue));

    // A case whose promised day has passed is overdue until it is closed.
    sqlx::query("UPDATE cases SET reply_due = '2026-01-02' WHERE id = $1")
        .bind(cases[0].id.0)
        .execute(app.store().pool())
        .await
        .unwrap();
    let overdue: Vec<bool> = app
        .store()
        .recent_cases(3)
        .await
        .unwrap()
        .iter()
        .map(|c| c.overdue)
        .collect();
    assert_eq!(overdue, [true, false, false]);
    assert_eq!(app.store().enquiry_stats(today).await.unwrap().overdue, 1);
    sqlx::query("UPDATE cases SET status = 'closed' WHERE id = $1")
        .bind(cases[0].id.0)
        .execute(app.store().pool())
        .await
        .unwrap();
    assert!(!app.store().recent_cases(1).await.unwrap()[0].overdue);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_answer_goes_out_only_for_ordinary_cases() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    std::fs::create_dir_all(&kb).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/index/starter-kb.jsonl"),
        kb.join("starter-kb.jsonl"),
    )
    .unwrap();
    let approved = [
        (
            "faq-1",
            "kultur-fritid",
            "När har biblioteket öppet på lördagar under sommaren?",
            "Biblioteket har öppet 10–14 på lördagar under sommaren.",
        ),
        (
            "faq-2",
            "socialtjanst",
            "Hur ansöker jag om ekonomiskt bistånd försörjningsstöd?",
            "Du ansöker om försörjningsstöd i kommunens e-tjänst.",
        ),
        (
            "faq-3",
            "vatten-avfall",
            "Vattenläcka på gatan vem ska jag ringa?",
            "Ring VA-jouren.",
        ),
    ];
    let lines: Vec<String> = approved
        .iter()
        .map(|(id, d, q, a)| serde_json::json!({"id": id, "department": d, "subject": "", "text": q, "answer": a, "approved": true}).to_string())
        .collect();
    std::fs::write(kb.join("faq.jsonl"), lines.join("\n") + "\n").unwrap();
    let mut config = helpers::config(dir.path(), None);
    config.routing.knowledge_dir = Some(kb);
    config.automatic_answers.enabled = true;
    config.automatic_answers.min_confidence = 0.3;
    config.automatic_answers.min_similarity = 0.8;
    let app = Application::build(config).await.unwrap();

    let ack_of = |raws: Vec<Vec<u8>>| {
        let raw = raws.into_iter().next().expect("acknowledged");
        let parsed = MessageParser::default().parse(&raw).unwrap();
        parsed.body_text(0).unwrap().into_owned()
    };
    let (library, _) = new_case(
        &app,
        mail(
            "a1",
            "kontaktcenter@kommun.example",
            "Bibliotek",
            "När har biblioteket öppet på lördagar under sommaren?",
            "",
        ),
    )
    .await;
    let text = ack_of(queued(&app, library, OutboxKind::Acknowledgement).await);
    assert!(text.contains("Biblioteket har öppet 10–14"), "{text}");
    assert!(text.contains("skickat automatiskt"), "{text}");

    let (social, _) = new_case(
        &app,
        mail(
            "a2",
            "kontaktcenter@kommun.example",
            "Bistånd",
            "Hur ansöker jag om ekonomiskt bistånd försörjningsstöd?",
            "",
        ),
    )
    .await;
    let flags = |id| {
        let app = &app;
        async move {
            app.store()
                .recent_cases(10)
                .await
                .unwrap()
                .into_iter()
                .find(|c| c.id == id)
                .unwrap()
        }
    };
    let case = flags(social).await;
    assert!(case.flags.sensitive, "routed to {:?}", case.department);
    assert_eq!(case.department.as_deref(), Some("socialtjanst"));
    let text = ack_of(queued(&app, social, OutboxKind::Acknowledgement).await);
    assert!(!text.contains("kommunens e-tjänst"), "sensitive: {text}");
    assert!(!text.contains("kunskapsbank"), "{text}");

    let (leak, _) = new_case(
        &app,
        mail(
            "a3",
            "kontaktcenter@kommun.example",
            "Vattenläcka",
            "Vattenläcka på gatan vem ska jag ringa?",
            "",
        ),
    )
    .await;
    let case = flags(leak).await;
    assert!(case.flags.urgent);
    assert_eq!(case.department.as_deref(), Some("vatten-avfall"));
    let text = ack_of(queued(&app, leak, OutboxKind::Acknowledgement).await);
    assert!(!text.contains("VA-jouren"), "urgent: {text}");
}
