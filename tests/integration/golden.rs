//! Golden files for every shipped template in every language (`tests/golden/`), rendered
//! with fixed facts. `BREVDUVA_UPDATE_GOLDEN=1 cargo test --test integration golden`
//! rewrites them; review the diff before committing.

use brevduva::domain::{CaseNumber, EmailAddress};
use brevduva::outbox::{template_context, CaseFacts, Sender, Templates};
use brevduva::routing::RoutingRules;
use std::path::Path;

fn golden_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"))
}

fn compare(name: &str, rendered: &str) -> Option<String> {
    let path = golden_dir().join(format!("{name}.txt"));
    if std::env::var_os("BREVDUVA_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, rendered).unwrap();
        return None;
    }
    match std::fs::read_to_string(&path) {
        Ok(expected) if expected == rendered => None,
        Ok(expected) => Some(format!(
            "{name}: differs from {}\n--- expected\n{expected}\n--- rendered\n{rendered}",
            path.display()
        )),
        Err(_) => Some(format!("{name}: no golden file {}", path.display())),
    }
}

#[test]
fn every_template_in_every_language_matches_its_golden_file() {
    let templates = Templates::parse_files(&brevduva::defaults::templates()).unwrap();
    let rules = RoutingRules::parse_files(&brevduva::defaults::routing_rules()).unwrap();
    let department = rules.department("bygg-miljo").unwrap();
    let sender = Sender {
        address: EmailAddress::parse("kontaktcenter@exempelby.se").unwrap(),
        name: "Kontaktcenter".into(),
        municipality: "Exempelby kommun".into(),
        promise_days: 2,
    };
    let december = |day| time::Date::from_calendar_date(2026, time::Month::December, day).unwrap();
    let facts = CaseFacts {
        number: CaseNumber::new(2026, 123),
        subject: "Bygglov för uterum",
        department: Some(department),
        confidence: 0.93,
        auto_routed: true,
        explanation: "Ord som talade för bygg-miljo: \"bygglov\", \"uterum\"",
        language: "sv",
        urgent_reason: None,
        attachments: vec!["ritning.pdf".into()],
        message_key: "golden",
        reply_by: Some(december(2)),
        office_closed: true,
        next_opening: Some(december(1).with_hms(8, 0, 0).unwrap()),
        automatic_answer: Some("För ett uterum på mer än 15 kvadratmeter behövs oftast bygglov."),
    };
    let mut context = template_context(&sender, &facts);
    let map = context.as_object_mut().unwrap();
    map.insert(
        "answer".into(),
        "Ja, för ett inglasat uterum behövs bygglov.".into(),
    );
    map.insert("signature".into(), "Anna Berg".into());
    map.insert("team".into(), department.name.clone().into());
    map.insert(
        "out_of_hours".into(),
        "Kontaktcenter har stängt just nu.".into(),
    );

    let mut problems = Vec::new();
    let mut rendered_any = 0;
    for name in templates.names() {
        let (kind, language) = name.rsplit_once('.').unwrap();
        let text = templates.render(kind, language, &context).unwrap();
        let whole = format!("Subject: {}\n\n{}", text.subject, text.body);
        problems.extend(compare(name, &whole));
        rendered_any += 1;
        if language == "ar" {
            // Right-to-left text arrives as written: no replacement characters, no
            // direction marks added, the Arabic words intact.
            assert!(!whole.contains('\u{FFFD}') && !whole.contains('\u{200F}'));
            assert!(
                whole.contains("مع أطيب التحيات") || kind == "out-of-hours",
                "{name}"
            );
        }
    }
    assert!(rendered_any >= 14, "{rendered_any} templates");
    // Every acknowledgement language carries the short Swedish line.
    for language in ["en", "uk", "ar"] {
        let text = templates
            .render("acknowledgement", language, &context)
            .unwrap();
        assert!(
            text.body
                .contains("Vi har tagit emot ditt meddelande (KC-2026-000123)"),
            "{language}"
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
