//! Taking in a raw mail: parse it, find the citizen's own words, recognise automatic mail.
//!
//! Pure logic; the store decides whether it is new, a duplicate or part of a case.

mod automatic;
mod clean;
mod parse;

pub use automatic::{detect_automation, Automation};
pub use clean::text_for_classification;
pub use parse::{
    attachment_of, content_hash, html_body_of, normalise_message_id, parse_mail, readable_text_of,
    AttachmentMeta, AutomationHeaders, ParseError, ParsedMail,
};

/// A mail ready for the store and the classifier.
#[derive(Debug, Clone)]
pub struct IncomingMail {
    /// Headers, text and attachment metadata.
    pub parsed: ParsedMail,
    /// Subject and the citizen's own words, for classification.
    pub classification_text: String,
    /// Whether it is automatic or bulk mail.
    pub automation: Automation,
    /// The bytes exactly as received.
    pub raw: Vec<u8>,
}

impl IncomingMail {
    /// The key that makes a mail unique across every mailbox: its Message-ID, or the hash
    /// of its bytes when it has none.
    pub fn dedupe_key(&self) -> String {
        match &self.parsed.message_id {
            Some(id) => format!("mid:{id}"),
            None => format!("sha256:{}", self.parsed.content_hash),
        }
    }
}

/// A mail that could not be taken in: it goes to quarantine with its reason.
#[derive(Debug)]
pub struct Rejected {
    /// Why.
    pub reason: ParseError,
    /// The bytes exactly as received.
    pub raw: Vec<u8>,
}

/// How much of a mail's own words the classifier reads: the question is at the start, and
/// a whole pasted document would only blur it (and cost time).
pub const CLASSIFICATION_CHARS: usize = 4000;

fn clip_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

/// Parses and prepares one raw message.
pub fn take_in(raw: Vec<u8>, max_bytes: usize) -> Result<IncomingMail, Rejected> {
    match parse_mail(&raw, max_bytes) {
        Ok(parsed) => {
            let body = clip_chars(&text_for_classification(&parsed.text), CLASSIFICATION_CHARS);
            let classification_text = if parsed.subject.is_empty() {
                body
            } else {
                format!("{}\n{}", parsed.subject, body)
            };
            let automation = detect_automation(&parsed);
            Ok(IncomingMail {
                parsed,
                classification_text,
                automation,
                raw,
            })
        }
        Err(reason) => Err(Rejected { reason, raw }),
    }
}
