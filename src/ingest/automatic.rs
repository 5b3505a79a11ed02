//! Recognising mail that no person wrote to us: out-of-office replies, bounces, bulk and
//! list mail (RFC 3834). Such mail is kept and flagged, and never acknowledged.

use super::parse::ParsedMail;

/// What kind of automatic mail a message is, and the evidence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Automation {
    /// An automatic answer or a delivery report.
    pub auto_reply: bool,
    /// Bulk, list or newsletter mail.
    pub bulk: bool,
    /// The first piece of evidence found, for the explanation.
    pub reason: Option<&'static str>,
}

const AUTO_SUBJECT_PREFIXES: &[&str] = &[
    "frånvaromeddelande",
    "automatiskt svar",
    "autosvar",
    "auto:",
    "automatic reply",
    "autoreply",
    "auto-reply",
    "out of office",
    "out of the office",
    "abwesenheitsnotiz",
    "undelivered mail returned",
    "delivery status notification",
    "mail delivery failed",
    "undeliverable:",
    "returned mail:",
    "olevererbart:",
    "kan inte levereras",
];

const AUTOMATIC_SENDERS: &[&str] = &[
    "mailer-daemon",
    "postmaster",
    "noreply",
    "no-reply",
    "do-not-reply",
    "donotreply",
];

/// Decides from headers, sender and subject whether a mail is automatic or bulk.
pub fn detect_automation(mail: &ParsedMail) -> Automation {
    let h = &mail.automation;
    let mut result = Automation::default();
    let auto = |reason: &'static str, result: &mut Automation| {
        if !result.auto_reply {
            result.auto_reply = true;
            result.reason.get_or_insert(reason);
        }
    };
    if h.auto_submitted.as_deref().is_some_and(|v| v != "no") {
        auto("auto-submitted header", &mut result);
    }
    if h.x_autoreply {
        auto("x-autoreply header", &mut result);
    }
    if h.auto_response_suppress.as_deref().is_some_and(|v| {
        ["all", "oof", "autoreply", "dr", "ndr"]
            .iter()
            .any(|k| v.contains(k))
    }) {
        auto("x-auto-response-suppress header", &mut result);
    }
    if h.null_return_path || h.report {
        auto("delivery report", &mut result);
    }
    if let Some(from) = &mail.from {
        let local = from.local_base();
        if AUTOMATIC_SENDERS
            .iter()
            .any(|s| local.eq_ignore_ascii_case(s))
        {
            auto("automatic sender address", &mut result);
        }
    }
    let subject = mail.subject.to_lowercase();
    if AUTO_SUBJECT_PREFIXES.iter().any(|p| subject.starts_with(p)) {
        auto("automatic reply subject", &mut result);
    }
    if h.precedence
        .as_deref()
        .is_some_and(|p| ["bulk", "list", "junk"].contains(&p))
    {
        result.bulk = true;
        result.reason.get_or_insert("precedence header");
    }
    if h.list {
        result.bulk = true;
        result.reason.get_or_insert("mailing list headers");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::parse_mail;

    fn detect(headers: &str) -> Automation {
        let raw = format!("{headers}\nMessage-ID: <t@example.se>\n\nText\n");
        detect_automation(&parse_mail(raw.as_bytes(), 1 << 20).unwrap())
    }

    #[test]
    fn automatic_and_bulk_mail_is_recognised() {
        let table: &[(&str, bool, bool)] = &[
            (
                "From: a@example.se\nSubject: Fråga om bygglov",
                false,
                false,
            ),
            (
                "From: a@example.se\nSubject: x\nAuto-Submitted: auto-replied",
                true,
                false,
            ),
            (
                "From: a@example.se\nSubject: x\nAuto-Submitted: no",
                false,
                false,
            ),
            (
                "From: a@example.se\nSubject: Frånvaromeddelande: Fråga",
                true,
                false,
            ),
            (
                "From: a@example.se\nSubject: Automatic reply: hi",
                true,
                false,
            ),
            (
                "From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to Sender",
                true,
                false,
            ),
            ("From: postmaster@example.net\nSubject: x", true, false),
            (
                "From: a@example.se\nReturn-Path: <>\nSubject: x",
                true,
                false,
            ),
            (
                "From: a@example.se\nSubject: x\nX-Auto-Response-Suppress: All",
                true,
                false,
            ),
            (
                "From: news@example.org\nSubject: Nyhetsbrev\nPrecedence: bulk",
                false,
                true,
            ),
            (
                "From: news@example.org\nSubject: Nyhetsbrev\nList-Id: <n.example.org>",
                false,
                true,
            ),
            (
                "From: a@example.se\nSubject: Re: auto: not at start",
                false,
                false,
            ),
        ];
        for (headers, auto, bulk) in table {
            let got = detect(headers);
            assert_eq!((got.auto_reply, got.bulk), (*auto, *bulk), "{headers}");
            assert_eq!(got.reason.is_some(), *auto || *bulk, "{headers}");
        }
    }
}
