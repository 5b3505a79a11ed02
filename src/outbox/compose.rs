//! Composing what Brevduva sends: the forward to a department (a short summary on top, the
//! citizen's original attached as message/rfc822) and the acknowledgement to the citizen
//! (case number, what happens next). Pure: bytes in, bytes out.

use super::templates::{RenderedText, TemplateError, Templates};
use crate::domain::working_days::{english_date, swedish_date};
use crate::domain::{CaseNumber, EmailAddress, OutboxKind};
use crate::routing::Department;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use serde::Serialize;

/// Errors while composing a mail.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A template failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// lettre refused to build the message.
    #[error("building mail: {0}")]
    Build(#[from] lettre::error::Error),
    /// An address could not be used.
    #[error("address: {0}")]
    Address(#[from] lettre::address::AddressError),
}

/// Who sends on behalf of the municipality.
#[derive(Debug, Clone)]
pub struct Sender {
    /// Kontaktcenter's public address: From of everything we send (DMARC-safe).
    pub address: EmailAddress,
    /// Display name, "Kontaktcenter".
    pub name: String,
    /// "Exempelby kommun".
    pub municipality: String,
    /// Working days the citizen can expect to wait.
    pub promise_days: u32,
}

/// What the templates need to know about a case.
#[derive(Debug, Clone)]
pub struct CaseFacts<'a> {
    /// Case number.
    pub number: CaseNumber,
    /// Subject of the citizen's message.
    pub subject: &'a str,
    /// The department routed to, if any.
    pub department: Option<&'a Department>,
    /// Classifier confidence.
    pub confidence: f64,
    /// Routed without a person.
    pub auto_routed: bool,
    /// The routing explanation.
    pub explanation: &'a str,
    /// Detected language (ISO 639-1).
    pub language: &'a str,
    /// Why the case is urgent, if it is.
    pub urgent_reason: Option<String>,
    /// Attachment file names.
    pub attachments: Vec<String>,
    /// A key unique to the citizen's message, for stable Message-IDs.
    pub message_key: &'a str,
    /// The working day by which the citizen can expect an answer.
    pub reply_by: Option<time::Date>,
    /// Whether the mail came when Kontaktcenter was closed.
    pub office_closed: bool,
    /// When Kontaktcenter opens next (Swedish time).
    pub next_opening: Option<time::PrimitiveDateTime>,
    /// An approved FAQ answer to include, clearly marked.
    pub automatic_answer: Option<&'a str>,
}

/// A mail ready for the outbox.
#[derive(Debug, Clone)]
pub struct ComposedMail {
    /// What it is.
    pub kind: OutboxKind,
    /// Its Message-ID, without angle brackets.
    pub message_id: String,
    /// Envelope recipient.
    pub recipient: EmailAddress,
    /// The complete message.
    pub raw: Vec<u8>,
}

#[derive(Serialize)]
struct TemplateContext<'a> {
    case_number: String,
    subject: &'a str,
    municipality: &'a str,
    kontaktcenter_name: &'a str,
    kontaktcenter_address: &'a str,
    department_id: &'a str,
    department_name: &'a str,
    department_name_en: &'a str,
    confidence: String,
    auto_routed: bool,
    explanation: &'a str,
    language: &'a str,
    urgent: bool,
    urgent_reason: &'a str,
    attachments: String,
    promise_days: u32,
    reply_by: String,
    reply_by_sv: String,
    reply_by_en: String,
    office_closed: bool,
    next_opening: String,
    next_opening_sv: String,
    next_opening_en: String,
    automatic_answer: &'a str,
    /// The out-of-hours notice in the language, when the office is closed.
    out_of_hours: String,
}

fn context<'a>(sender: &'a Sender, case: &'a CaseFacts<'a>) -> TemplateContext<'a> {
    TemplateContext {
        case_number: case.number.to_string(),
        subject: if case.subject.trim().is_empty() {
            "(inget ämne)"
        } else {
            case.subject
        },
        municipality: &sender.municipality,
        kontaktcenter_name: &sender.name,
        kontaktcenter_address: sender.address.as_str(),
        department_id: case.department.map(|d| d.id.as_str()).unwrap_or(""),
        department_name: case.department.map(|d| d.name.as_str()).unwrap_or(""),
        department_name_en: case.department.map(|d| d.name_en.as_str()).unwrap_or(""),
        confidence: format!("{:.0} %", case.confidence * 100.0),
        auto_routed: case.auto_routed,
        explanation: case.explanation,
        language: case.language,
        urgent: case.urgent_reason.is_some(),
        urgent_reason: case.urgent_reason.as_deref().unwrap_or(""),
        attachments: case.attachments.join(", "),
        promise_days: sender.promise_days,
        reply_by: case.reply_by.map(|d| d.to_string()).unwrap_or_default(),
        reply_by_sv: case.reply_by.map(swedish_date).unwrap_or_default(),
        reply_by_en: case.reply_by.map(english_date).unwrap_or_default(),
        office_closed: case.office_closed,
        next_opening: case
            .next_opening
            .map(|t| format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute()))
            .unwrap_or_default(),
        next_opening_sv: case
            .next_opening
            .map(|t| {
                format!(
                    "{} kl. {:02}.{:02}",
                    swedish_date(t.date()),
                    t.hour(),
                    t.minute()
                )
            })
            .unwrap_or_default(),
        next_opening_en: case
            .next_opening
            .map(|t| {
                format!(
                    "{} at {:02}:{:02}",
                    english_date(t.date()),
                    t.hour(),
                    t.minute()
                )
            })
            .unwrap_or_default(),
        automatic_answer: case.automatic_answer.unwrap_or(""),
        out_of_hours: String::new(),
    }
}

/// The variables every template may use, for a case (as JSON, to add kind-specific ones).
pub fn template_context(sender: &Sender, case: &CaseFacts<'_>) -> serde_json::Value {
    serde_json::to_value(context(sender, case)).unwrap_or_default()
}

/// A context with every variable set, for checking templates.
pub fn sample_context() -> impl Serialize {
    let sender = Sender {
        address: EmailAddress::parse("kontaktcenter@kommun.example").expect("valid"),
        name: "Kontaktcenter".into(),
        municipality: "Exempelby kommun".into(),
        promise_days: 2,
    };
    let department = Department {
        id: crate::domain::DepartmentId::kontaktcenter(),
        name: "Kontaktcenter".into(),
        name_en: "Contact centre".into(),
        forward_to: sender.address.clone(),
        sensitive: false,
    };
    let facts = CaseFacts {
        number: CaseNumber::new(2026, 1),
        subject: "Exempel",
        department: Some(&department),
        confidence: 0.9,
        auto_routed: true,
        explanation: "exempel",
        language: "sv",
        urgent_reason: Some("exempel".into()),
        attachments: vec!["a.pdf".into()],
        message_key: "x",
        reply_by: time::Date::from_calendar_date(2026, time::Month::December, 4).ok(),
        office_closed: true,
        next_opening: time::Date::from_calendar_date(2026, time::Month::November, 30)
            .ok()
            .map(|d| d.with_hms(8, 0, 0).expect("valid time")),
        automatic_answer: Some("exempel"),
    };
    let mut context = context(&sender, &facts);
    context.out_of_hours = "exempel".into();
    let mut value = serde_json::to_value(context).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        for (key, example) in [
            ("answer", "exempel"),
            ("signature", "Anna"),
            ("team", "Kontaktcenter"),
        ] {
            map.insert(key.into(), example.into());
        }
    }
    value
}

/// A Message-ID that is the same every time the same mail is composed for the same
/// citizen message, so a retry after a crash cannot create a second one.
fn stable_message_id(
    kind: OutboxKind,
    number: CaseNumber,
    message_key: &str,
    domain: &str,
) -> String {
    let key = crate::ingest::content_hash(message_key.as_bytes());
    format!(
        "{}.{}.{}@{}",
        kind.as_str(),
        number.to_string().to_lowercase(),
        &key[..16],
        domain
    )
}

fn mailbox(name: &str, address: &EmailAddress) -> Result<Mailbox, ComposeError> {
    Ok(Mailbox::new(
        Some(name.to_owned()),
        address.as_str().parse()?,
    ))
}

fn custom_header(message: &mut Message, name: &'static str, value: String) {
    message.headers_mut().insert_raw(HeaderValue::new(
        HeaderName::new_from_ascii_str(name),
        value,
    ));
}

/// The citizen's original, attached unchanged where the transfer encodings allow it.
fn original_part(raw: &[u8]) -> SinglePart {
    let long_line = raw.split(|b| *b == b'\n').any(|l| l.len() > 998);
    let content_type = ContentType::parse("message/rfc822").expect("valid content type");
    let body = if long_line {
        Body::new(raw.to_vec())
    } else if raw.is_ascii() {
        Body::dangerous_pre_encoded(raw.to_vec(), ContentTransferEncoding::SevenBit)
    } else {
        Body::dangerous_pre_encoded(raw.to_vec(), ContentTransferEncoding::EightBit)
    };
    SinglePart::builder().header(content_type).body(body)
}

/// The forward of a new case (or a follow-up, with `template = "followup"`) to its department.
pub fn compose_forward(
    templates: &Templates,
    sender: &Sender,
    case: &CaseFacts<'_>,
    template: &str,
    citizen: Option<&EmailAddress>,
    original: &[u8],
) -> Result<ComposedMail, ComposeError> {
    let department = case.department.expect("a forward has a department");
    let text = templates.render(template, "sv", &context(sender, case))?;
    let message_id = stable_message_id(
        OutboxKind::Forward,
        case.number,
        &format!("{template}:{}", case.message_key),
        sender.address.domain(),
    );
    let mut builder = Message::builder()
        .from(mailbox(&sender.name, &sender.address)?)
        .to(mailbox(&department.name, &department.forward_to)?)
        .subject(text.subject)
        .message_id(Some(format!("<{message_id}>")))
        .date_now();
    if let Some(citizen) = citizen {
        builder = builder.reply_to(Mailbox::new(None, citizen.as_str().parse()?));
    }
    let mut message = builder.multipart(
        MultiPart::mixed()
            .singlepart(SinglePart::plain(text.body))
            .singlepart(original_part(original)),
    )?;
    custom_header(&mut message, "X-Brevduva-Case", case.number.to_string());
    Ok(ComposedMail {
        kind: OutboxKind::Forward,
        message_id,
        recipient: department.forward_to.clone(),
        raw: message.formatted(),
    })
}

/// The acknowledgement to the citizen, marked as an automatic reply (RFC 3834).
pub fn compose_acknowledgement(
    templates: &Templates,
    sender: &Sender,
    case: &CaseFacts<'_>,
    citizen: &EmailAddress,
    in_reply_to: Option<&str>,
) -> Result<ComposedMail, ComposeError> {
    let mut context = context(sender, case);
    if case.office_closed {
        context.out_of_hours = templates
            .render("out-of-hours", case.language, &context)?
            .body
            .trim_end()
            .to_owned();
    }
    let text = templates.render("acknowledgement", case.language, &context)?;
    let message_id = stable_message_id(
        OutboxKind::Acknowledgement,
        case.number,
        case.message_key,
        sender.address.domain(),
    );
    let mut builder = Message::builder()
        .from(mailbox(&sender.name, &sender.address)?)
        .to(Mailbox::new(None, citizen.as_str().parse()?))
        .subject(text.subject)
        .message_id(Some(format!("<{message_id}>")))
        .date_now();
    if let Some(parent) = in_reply_to {
        builder = builder
            .in_reply_to(format!("<{parent}>"))
            .references(format!("<{parent}>"));
    }
    let mut message = builder.singlepart(SinglePart::plain(text.body))?;
    custom_header(&mut message, "Auto-Submitted", "auto-replied".into());
    custom_header(&mut message, "X-Loop", sender.address.to_string());
    custom_header(&mut message, "X-Auto-Response-Suppress", "All".into());
    custom_header(&mut message, "X-Brevduva-Case", case.number.to_string());
    Ok(ComposedMail {
        kind: OutboxKind::Acknowledgement,
        message_id,
        recipient: citizen.clone(),
        raw: message.formatted(),
    })
}

/// The text of a person's reply (or of a suggested one): the case's subject without its
/// case number (the template puts it back once), the answer and the signature, through the
/// department's reply template when it has one.
pub fn render_reply(
    templates: &Templates,
    sender: &Sender,
    case: &CaseFacts<'_>,
    answer: &str,
    signature: &str,
) -> Result<RenderedText, TemplateError> {
    let mut value = serde_json::to_value(context(sender, case)).unwrap_or_default();
    let subject = crate::domain::CaseNumber::find_in(case.subject)
        .map(|n| {
            case.subject
                .replace(&format!("[{n}]"), "")
                .replace(&n.to_string(), "")
        })
        .unwrap_or_else(|| case.subject.to_owned());
    let subject = subject
        .trim()
        .trim_start_matches(|c: char| c == ':' || c.is_whitespace())
        .to_owned();
    if let Some(map) = value.as_object_mut() {
        let team = case
            .department
            .map_or(sender.name.as_str(), |d| d.name.as_str());
        map.insert("answer".into(), answer.trim().into());
        map.insert("signature".into(), signature.trim().into());
        map.insert("team".into(), team.into());
        map.insert(
            "subject".into(),
            if subject.is_empty() {
                "(inget ämne)".into()
            } else {
                subject.into()
            },
        );
    }
    let department = case.department.map(|d| d.id.as_str());
    templates.render_for_department("reply", department, case.language, &value)
}

/// The message a reply answers.
#[derive(Debug, Clone)]
pub struct Original<'a> {
    /// Its Message-ID (without angle brackets), if it had one.
    pub message_id: Option<&'a str>,
    /// Its `References`.
    pub references: &'a [String],
    /// Who wrote it.
    pub from: &'a EmailAddress,
    /// When (unix seconds), if known.
    pub sent_at: Option<i64>,
    /// Its text, to quote.
    pub text: &'a str,
}

/// A reply written by a person: threaded to the citizen's message (In-Reply-To and
/// References), the case number in the subject, the original quoted below, and without
/// `Auto-Submitted` (a person wrote it, so auto-responders may answer).
pub fn compose_reply(
    templates: &Templates,
    sender: &Sender,
    case: &CaseFacts<'_>,
    answer: &str,
    signature: &str,
    original: &Original<'_>,
) -> Result<ComposedMail, ComposeError> {
    let text = render_reply(templates, sender, case, answer, signature)?;
    let message_id = stable_message_id(
        OutboxKind::Reply,
        case.number,
        &format!("reply:{}:{answer}", case.message_key),
        sender.address.domain(),
    );
    let mut builder = Message::builder()
        .from(mailbox(&sender.name, &sender.address)?)
        .to(Mailbox::new(None, original.from.as_str().parse()?))
        .subject(text.subject)
        .message_id(Some(format!("<{message_id}>")))
        .date_now();
    if let Some(parent) = original.message_id {
        let mut references: Vec<String> = original
            .references
            .iter()
            .map(|r| format!("<{r}>"))
            .collect();
        references.push(format!("<{parent}>"));
        builder = builder
            .in_reply_to(format!("<{parent}>"))
            .references(references.join(" "));
    }
    let mut body = text.body;
    body.push_str(&quote(original));
    let mut message = builder.singlepart(SinglePart::plain(body))?;
    custom_header(&mut message, "X-Brevduva-Case", case.number.to_string());
    Ok(ComposedMail {
        kind: OutboxKind::Reply,
        message_id,
        recipient: original.from.clone(),
        raw: message.formatted(),
    })
}

/// The original below a reply: an attribution line and every line behind "> ".
fn quote(original: &Original<'_>) -> String {
    let when = original
        .sent_at
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .map(crate::domain::working_days::swedish_local)
        .map(|t| {
            format!(
                "Den {} kl. {:02}.{:02} ",
                swedish_date(t.date()),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default();
    let mut out = format!("\n{when}skrev {}:\n", original.from);
    for line in original.text.trim_end().lines() {
        out.push_str("> ");
        out.push_str(line);
        out.push('\n');
    }
    out
}
