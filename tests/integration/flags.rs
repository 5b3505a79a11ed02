//! Urgent and sensitive flags on cases made from the shipped defaults, checked against
//! tables of examples (positives and look-alikes that must not be flagged).

use crate::helpers;
use brevduva::app::Application;
use brevduva::store::CaseRow;
use brevduva::triage::Outcome;

fn mail(i: usize, subject: &str, text: &str) -> Vec<u8> {
    format!(
        "From: Invånare {i} <invanare{i}@example.se>\r\nTo: kontaktcenter@kommun.example\r\n\
         Subject: {subject}\r\nMessage-ID: <flag{i}@example.se>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    )
    .into_bytes()
}

/// The case a text becomes, as mail number `i`.
async fn case_of(app: &Application, i: usize, text: &str) -> CaseRow {
    let outcome = app
        .triage
        .process(mail(i, "Fråga", text), "test")
        .await
        .unwrap();
    let Outcome::NewCase { number, .. } = outcome else {
        panic!("{text}: {outcome:?}")
    };
    app.store()
        .recent_cases(1)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.number == number)
        .expect("the case just made")
}

/// The flags of the case each text becomes.
async fn flags_of(app: &Application, table: &[(&str, bool)], offset: usize) -> Vec<(bool, bool)> {
    let mut out = Vec::new();
    for (i, (text, _)) in table.iter().enumerate() {
        let case = case_of(app, offset + i, text).await;
        out.push((case.flags.urgent, case.flags.sensitive));
    }
    out
}

const URGENT: &[(&str, bool)] = &[
    (
        "Jag vill överklaga beslutet om bygglov på Solhaga 3:14.",
        true,
    ),
    (
        "Överklagande av beslut i barn- och utbildningsnämnden.",
        true,
    ),
    ("Jag vill göra en orosanmälan om grannens barn.", true),
    (
        "Jag är rädd att barnen i lägenheten bredvid far illa.",
        true,
    ),
    ("Vattenläcka i vår källare, vattnet forsar in!", true),
    ("Det läcker vatten från brandposten på Storgatan.", true),
    (
        "Min pappa har ramlat och trygghetslarmet fungerar inte.",
        true,
    ),
    ("En förälder hotar personalen på förskolan.", true),
    ("Det brinner i soprummet på Ekvägen 4!", true),
    ("Ett träd har fallit över vägen vid badplatsen.", true),
    (
        "Det är ett stort hål i vägen vid skolan, livsfarligt för cyklister.",
        true,
    ),
    ("Min son blir mobbad i skolan varje dag.", true),
    ("Jag orkar inte leva längre.", true),
    (
        "I want to appeal the decision about my building permit.",
        true,
    ),
    (
        "There is a water leak in the street outside my house.",
        true,
    ),
    ("My daughter is being bullied at school.", true),
    ("Someone threatened the staff at the library.", true),
    ("När töms soptunnan på Björkvägen?", false),
    ("Hur ansöker jag om bygglov för en altan?", false),
    ("Vilka öppettider har biblioteket i jul?", false),
    ("Tack för snabbt svar om fakturan.", false),
    (
        "Var kan jag läsa protokollet från kommunfullmäktige?",
        false,
    ),
    (
        "Vi planerar en brandövning på förskolan, vem kontaktar vi?",
        false,
    ),
    ("Kan ni skicka information om den nya vattenmätaren?", false),
    ("Vad kostar hemtjänsten per månad?", false),
    ("Vi vill boka hotellet vid torget för en konferens.", false),
    ("When is the recycling centre open?", false),
];

const SENSITIVE: &[(&str, bool)] = &[
    ("Jag behöver ansöka om försörjningsstöd, hur gör jag?", true),
    (
        "Min mamma behöver hemtjänst, hon klarar sig inte själv längre.",
        true,
    ),
    ("Hur ansöker man om plats på ett äldreboende?", true),
    (
        "Jag vill göra en orosanmälan om ett barn i vårt trapphus.",
        true,
    ),
    ("Vi har stora skulder och behöver hjälp med budgeten.", true),
    ("Kan min son med autism få stöd enligt LSS?", true),
    ("Hur ansöker jag om färdtjänst?", true),
    ("Behöver vi bygglov för ett garage?", false),
    ("Soptunnan har inte tömts på två veckor.", false),
    ("Hur söker jag förskoleplats?", false),
    ("Fakturan för vatten har fel belopp.", false),
    ("Finns det sommarjobb för ungdomar?", false),
    ("Gatlampan utanför vårt hus är trasig.", false),
];

fn check(
    table: &[(&str, bool)],
    found: &[(bool, bool)],
    pick: fn(&(bool, bool)) -> bool,
    what: &str,
) {
    let wrong: Vec<String> = table
        .iter()
        .zip(found)
        .filter(|((_, expected), flags)| pick(flags) != *expected)
        .map(|((text, expected), _)| {
            format!(
                "{text:?} should{} be {what}",
                if *expected { "" } else { " not" }
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_matters_are_flagged_and_look_alikes_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let app = helpers::app(dir.path(), None).await;
    let found = flags_of(&app, URGENT, 0).await;
    check(URGENT, &found, |f| f.0, "urgent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn social_services_and_care_topics_are_sensitive_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let app = helpers::app(dir.path(), None).await;
    let found = flags_of(&app, SENSITIVE, 100).await;
    check(SENSITIVE, &found, |f| f.1, "sensitive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_that_may_concern_social_services_waits_for_a_person_without_a_department() {
    let dir = tempfile::tempdir().unwrap();
    let app = helpers::app(dir.path(), None).await;
    // Money trouble told beside an invoice from the municipality: ekonomi ranks first, but
    // socialtjänst has a fair share of the evidence.
    let table: &[(&str, bool)] = &[
        (
            "Jag har fått en påminnelse på fakturan för barnomsorgen men jag har inga pengar till mat ens. Vad ska jag göra?",
            true,
        ),
        (
            "Hej! Jag ligger efter med alla räkningar och hyran, pengarna räcker inte. Kan kommunen hjälpa mig att betala?",
            true,
        ),
        // Look-alikes: a plain invoice question goes to ekonomi as before.
        (
            "Hej, fakturan för vatten och avlopp har fel belopp, vi har betalat två gånger. Kan ni kreditera?",
            false,
        ),
        ("Jag vill betala fakturan med autogiro, hur gör jag?", false),
    ];
    for (i, (text, doubt)) in table.iter().enumerate() {
        let case = case_of(&app, 200 + i, text).await;
        let explanation = case.explanation.clone().unwrap_or_default();
        let forwards = app
            .store()
            .outbox_for_case(case.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == brevduva::domain::OutboxKind::Forward)
            .count();
        if *doubt {
            assert_eq!(case.department, None, "{text}: {explanation}");
            assert_eq!(case.status.as_str(), "triage", "{text}");
            assert!(case.flags.sensitive, "{text}");
            assert_eq!(forwards, 0, "{text}: not forwarded");
            assert!(
                explanation.contains("Kan gälla socialtjanst (sekretess)"),
                "{text}: {explanation}"
            );
        } else {
            assert_eq!(case.department.as_deref(), Some("ekonomi"), "{text}");
            assert!(!case.flags.sensitive, "{text}");
            assert!(!explanation.contains("sekretess"), "{text}: {explanation}");
        }
    }
}
