//! From raw bytes to a [`ParsedMail`]: headers, readable text and attachment metadata.
//!
//! Pure: no I/O. Parsing never panics on hostile input; what cannot be read as a mail
//! becomes a [`ParseError`] with a reason, and the caller quarantines the bytes.

use crate::domain::EmailAddress;
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a message could not be taken in as a case (it is quarantined with this reason).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Zero bytes.
    #[error("empty message")]
    Empty,
    /// Larger than the configured limit.
    #[error("message is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Size of the raw message.
        size: usize,
        /// The configured maximum.
        limit: usize,
    },
    /// The MIME parser found no message structure at all.
    #[error("not a mail message: the MIME parser found no structure")]
    Unparseable,
    /// No header lines were recognised.
    #[error("not a mail message: no header fields")]
    NoHeaders,
    /// Neither sender, subject, text nor attachments.
    #[error("message has no sender, subject, text or attachments")]
    NoContent,
}

/// Metadata of one attachment; the bytes stay in the stored raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentMeta {
    /// File name as the sender gave it (untrusted; shown escaped).
    pub filename: Option<String>,
    /// MIME type, `application/pdf`.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
}

/// Headers that mark a message as automatic or bulk, collected for the loop check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutomationHeaders {
    /// `Auto-Submitted`, lowercased.
    pub auto_submitted: Option<String>,
    /// `Precedence`, lowercased.
    pub precedence: Option<String>,
    /// `List-Id` or `List-Unsubscribe` present.
    pub list: bool,
    /// `X-Auto-Response-Suppress`, lowercased.
    pub auto_response_suppress: Option<String>,
    /// `X-Autoreply` / `X-Autorespond` present.
    pub x_autoreply: bool,
    /// `Return-Path: <>`, the null sender of bounces.
    pub null_return_path: bool,
    /// The top-level MIME type is `multipart/report` (delivery or read reports).
    pub report: bool,
    /// `X-Loop` values, lowercased: an address here that is ours means our own mail came back.
    pub x_loop: Vec<String>,
}

/// A mail as Brevduva understands it. The raw bytes are kept beside it, unchanged.
#[derive(Debug, Clone)]
pub struct ParsedMail {
    /// `Message-ID` without angle brackets, if the mail has one.
    pub message_id: Option<String>,
    /// SHA-256 of the raw bytes, hex.
    pub content_hash: String,
    /// The sender's address (`From`, else `Sender`).
    pub from: Option<EmailAddress>,
    /// The sender's display name, as written.
    pub from_name: Option<String>,
    /// `Reply-To`, if set.
    pub reply_to: Option<EmailAddress>,
    /// Every address in `To`, `Cc` and `Delivered-To`.
    pub recipients: Vec<EmailAddress>,
    /// The subject, decoded; empty when missing.
    pub subject: String,
    /// `Date` as unix seconds.
    pub date: Option<i64>,
    /// `In-Reply-To` ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// `References` ids, without angle brackets.
    pub references: Vec<String>,
    /// The whole readable text: text/plain parts, or HTML converted to text.
    pub text: String,
    /// Attachments, as metadata.
    pub attachments: Vec<AttachmentMeta>,
    /// Headers for the loop and bulk check.
    pub automation: AutomationHeaders,
}

/// Hex SHA-256 of some bytes.
pub fn content_hash(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Strips angle brackets and white space from a message id; `None` if nothing is left.
pub fn normalise_message_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && id.len() <= 998).then(|| id.to_owned())
}

/// Parses a raw message.
pub fn parse_mail(raw: &[u8], max_bytes: usize) -> Result<ParsedMail, ParseError> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty);
    }
    if raw.len() > max_bytes {
        return Err(ParseError::TooLarge {
            size: raw.len(),
            limit: max_bytes,
        });
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::Unparseable)?;
    if message.headers().is_empty() {
        return Err(ParseError::NoHeaders);
    }

    let from_addr = message.from().or_else(|| message.sender());
    let from = from_addr.and_then(first_address);
    let from_name = from_addr
        .and_then(|a| a.first())
        .and_then(|a| a.name())
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let reply_to = message.reply_to().and_then(first_address);

    let mut recipients = Vec::new();
    for list in [message.to(), message.cc()].into_iter().flatten() {
        recipients.extend(all_addresses(list));
    }
    for value in message.header_values("Delivered-To") {
        if let Some(text) = value.as_text() {
            if let Ok(a) = EmailAddress::parse(text) {
                recipients.push(a);
            }
        }
    }
    recipients.dedup();

    let subject = message.subject().unwrap_or("").trim().to_owned();
    let date = message.date().map(|d| d.to_timestamp());
    let in_reply_to = id_list(message.in_reply_to());
    let references = id_list(message.references());
    let message_id = message.message_id().and_then(normalise_message_id);

    let text = readable_text(&message);
    let attachments = message
        .attachments()
        .map(attachment_meta)
        .collect::<Vec<_>>();

    let header_text = |name: &str| {
        message
            .header(name)
            .and_then(|v| v.as_text())
            .map(|t| t.trim().to_lowercase())
    };
    let report = message.root_part().content_type().is_some_and(|ct| {
        ct.c_type.eq_ignore_ascii_case("multipart")
            && ct
                .c_subtype
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    let automation = AutomationHeaders {
        auto_submitted: header_text("Auto-Submitted"),
        precedence: header_text("Precedence"),
        list: message.header("List-Id").is_some() || message.header("List-Unsubscribe").is_some(),
        auto_response_suppress: header_text("X-Auto-Response-Suppress"),
        x_autoreply: message.header("X-Autoreply").is_some()
            || message.header("X-Autorespond").is_some(),
        null_return_path: message
            .header_raw("Return-Path")
            .is_some_and(|v| v.trim() == "<>"),
        report,
        x_loop: message
            .header_values("X-Loop")
            .filter_map(|v| v.as_text())
            .map(|t| t.trim().to_lowercase())
            .collect(),
    };

    if from.is_none() && subject.is_empty() && text.trim().is_empty() && attachments.is_empty() {
        return Err(ParseError::NoContent);
    }

    Ok(ParsedMail {
        message_id,
        content_hash: content_hash(raw),
        from,
        from_name,
        reply_to,
        recipients,
        subject,
        date,
        in_reply_to,
        references,
        text,
        attachments,
        automation,
    })
}

fn first_address(address: &Address<'_>) -> Option<EmailAddress> {
    all_addresses(address).into_iter().next()
}

fn all_addresses(address: &Address<'_>) -> Vec<EmailAddress> {
    address
        .iter()
        .filter_map(|a| a.address())
        .filter_map(|a| EmailAddress::parse(a).ok())
        .collect()
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => normalise_message_id(t).into_iter().collect(),
        HeaderValue::TextList(list) => list
            .iter()
            .filter_map(|t| normalise_message_id(t))
            .collect(),
        _ => Vec::new(),
    }
}

/// The readable text of stored raw bytes (for mail Brevduva wrote itself, e.g. replies).
pub fn readable_text_of(raw: &[u8]) -> Option<String> {
    MessageParser::default()
        .parse(raw)
        .map(|m| readable_text(&m))
}

/// The HTML body of a stored message, if it has one (not yet sanitised: show it only
/// through `web::sanitise_mail_html`).
pub fn html_body_of(raw: &[u8]) -> Option<String> {
    let message = MessageParser::default().parse(raw)?;
    let html_part = message
        .html_body
        .iter()
        .filter_map(|&i| message.parts.get(i as usize))
        .find(|p| matches!(p.body, PartType::Html(_)))?;
    match &html_part.body {
        PartType::Html(h) => Some(h.to_string()),
        _ => None,
    }
}

/// The `index`th attachment of a stored message (in the order of `attachments`), with
/// its decoded contents.
pub fn attachment_of(raw: &[u8], index: usize) -> Option<(AttachmentMeta, Vec<u8>)> {
    let message = MessageParser::default().parse(raw)?;
    let part = message.attachments().nth(index)?;
    Some((attachment_meta(part), part.contents().to_vec()))
}

fn attachment_meta(part: &mail_parser::MessagePart<'_>) -> AttachmentMeta {
    AttachmentMeta {
        filename: part.attachment_name().map(str::to_owned),
        content_type: part
            .content_type()
            .map(|ct| match &ct.c_subtype {
                Some(sub) => format!("{}/{}", ct.c_type, sub).to_lowercase(),
                None => ct.c_type.to_lowercase(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned()),
        size: part.len(),
    }
}

/// The readable text of a message: every text/plain body part, or the HTML ones converted
/// to text where a part has no plain alternative.
fn readable_text(message: &mail_parser::Message<'_>) -> String {
    let mut out = String::new();
    for i in 0..message.text_body_count() {
        if let Some(text) = message.body_text(i) {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(text.trim_end());
        }
    }
    if out.trim().is_empty() {
        // Some senders put text only in parts that are not marked as the body.
        for part in message.parts.iter() {
            if let PartType::Text(t) = &part.body {
                out.push_str(t);
                out.push('\n');
            }
        }
    }
    out.replace("\r\n", "\n").replace('\u{0}', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 10 << 20;

    #[test]
    fn reads_headers_text_and_threading() {
        let raw =
            "From: Anna Svensson <Anna@Example.se>\r\nTo: kontaktcenter+bygglov@kommun.example\r\n\
Subject: =?UTF-8?Q?Fr=C3=A5ga_om_bygglov?=\r\nMessage-ID: <abc@example.se>\r\n\
In-Reply-To: <x@kommun.example>\r\nReferences: <y@kommun.example> <x@kommun.example>\r\n\
Date: Fri, 27 Nov 2026 09:00:00 +0100\r\n\r\nHej! Behöver jag bygglov?\r\n";
        let mail = parse_mail(raw.as_bytes(), LIMIT).unwrap();
        assert_eq!(mail.message_id.as_deref(), Some("abc@example.se"));
        assert_eq!(mail.from.unwrap().as_str(), "anna@example.se");
        assert_eq!(mail.from_name.as_deref(), Some("Anna Svensson"));
        assert_eq!(mail.subject, "Fråga om bygglov");
        assert_eq!(mail.recipients[0].plus_tag(), Some("bygglov"));
        assert_eq!(mail.in_reply_to, vec!["x@kommun.example"]);
        assert_eq!(
            mail.references,
            vec!["y@kommun.example", "x@kommun.example"]
        );
        assert!(mail.text.contains("Behöver jag bygglov?"));
        assert_eq!(mail.date, Some(1_795_766_400));
    }

    #[test]
    fn html_only_mail_becomes_readable_text() {
        let raw = b"From: a@example.se\nSubject: x\nContent-Type: text/html; charset=utf-8\n\n\
<html><body><p>Sn&ouml;r&ouml;jningen</p><script>alert(1)</script><p>fungerar inte</p></body></html>\n";
        let mail = parse_mail(raw, LIMIT).unwrap();
        assert!(mail.text.contains("Snöröjningen"), "{}", mail.text);
        assert!(mail.text.contains("fungerar inte"));
        assert!(!mail.text.contains("<p>"));
    }

    #[test]
    fn latin1_quoted_printable_is_decoded() {
        let raw =
            b"From: a@example.se\nSubject: sopor\nContent-Type: text/plain; charset=iso-8859-1\n\
Content-Transfer-Encoding: quoted-printable\n\nSoptunnan t=F6mdes inte p=E5 m=E5ndag\n";
        let mail = parse_mail(raw, LIMIT).unwrap();
        assert!(mail.text.contains("Soptunnan tömdes inte på måndag"));
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        assert_eq!(parse_mail(b"", LIMIT).unwrap_err(), ParseError::Empty);
        assert_eq!(parse_mail(b" \r\n ", LIMIT).unwrap_err(), ParseError::Empty);
        assert!(matches!(
            parse_mail(&[b'a'; 100], 10).unwrap_err(),
            ParseError::TooLarge {
                size: 100,
                limit: 10
            }
        ));
    }

    #[test]
    fn attachments_are_listed_as_metadata() {
        let raw = b"From: a@example.se\nSubject: ritning\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nSe bifogad ritning.\n\
--b\nContent-Type: application/pdf; name=\"ritning.pdf\"\nContent-Disposition: attachment; filename=\"ritning.pdf\"\n\
Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n";
        let mail = parse_mail(raw, LIMIT).unwrap();
        assert_eq!(mail.attachments.len(), 1);
        assert_eq!(mail.attachments[0].filename.as_deref(), Some("ritning.pdf"));
        assert_eq!(mail.attachments[0].content_type, "application/pdf");
        assert_eq!(mail.attachments[0].size, 9);
    }
}
