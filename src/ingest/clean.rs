//! The part of a mail that says something new: quoted replies, forwarded history and
//! signatures removed. Used for classification only; the stored message stays whole.

/// Returns the citizen's own words: lines quoted with `>` dropped, and everything from the
/// first reply attribution, forwarded header block or signature on cut away.
pub fn text_for_classification(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if is_cut_marker(trimmed, lines.get(i + 1).map(|l| l.trim()), &lines[i + 1..]) {
            break;
        }
        if trimmed.starts_with('>') {
            continue;
        }
        kept.push(line.trim_end());
    }
    // Collapse runs of blank lines.
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in kept {
        if line.trim().is_empty() {
            if !blank && !out.is_empty() {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
    }
    out.trim().to_owned()
}

const SIGNATURE_LINES: &[&str] = &[
    "skickat från min iphone",
    "skickat från min ipad",
    "skickat från min samsung",
    "skickat från min mobil",
    "skickat från e-post för windows",
    "skickades från min",
    "sent from my iphone",
    "sent from my ipad",
    "sent from my android",
    "sent from my samsung",
    "sent from mail for windows",
    "sent from outlook",
    "hämta outlook för",
    "get outlook for",
];

const ORIGINAL_MESSAGE: &[&str] = &[
    "-----original message-----",
    "-----ursprungligt meddelande-----",
    "-----original meddelande-----",
    "---------- forwarded message ---------",
    "---------- vidarebefordrat meddelande ---------",
    "-------- original message --------",
    "-------- ursprungligt meddelande --------",
    "________________________________",
];

/// Closing phrases that begin a sign-off ("Mvh Anna Svensson", "Med vänlig hälsning").
const SIGN_OFFS: &[&str] = &[
    "mvh",
    "med vänlig hälsning",
    "med vänliga hälsningar",
    "vänliga hälsningar",
    "vänlig hälsning",
    "hälsningar",
    "bästa hälsningar",
    "kind regards",
    "best regards",
    "regards",
    "yours sincerely",
    "з повагою",
    "مع التحية",
];

/// A short closing line with at most a few short lines after it (name, phone, address).
fn is_sign_off(lower: &str, rest: &[&str]) -> bool {
    // The phrase, then at most a name.
    let starts = SIGN_OFFS.iter().any(|s| {
        lower.strip_prefix(s).is_some_and(|after| {
            (after.is_empty() || after.starts_with([' ', ',', '!', '.', '/']))
                && after.split_whitespace().count() <= 3
        })
    });
    let after: Vec<&str> = rest
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    starts && after.len() <= 5 && after.iter().all(|l| l.chars().count() <= 60)
}

fn is_cut_marker(line: &str, next: Option<&str>, rest: &[&str]) -> bool {
    let lower = line.to_lowercase();
    if line == "--" || is_sign_off(&lower, rest) {
        return true;
    }
    if SIGNATURE_LINES.iter().any(|s| lower.starts_with(s)) {
        return true;
    }
    if ORIGINAL_MESSAGE.iter().any(|s| lower.starts_with(s)) {
        return true;
    }
    // "Den 20 nov. 2026 kl. 10:12 skrev Kontaktcenter <kc@kommun.se>:" possibly wrapped,
    // "On Fri, 20 Nov 2026 at 10:12, Kontaktcenter wrote:".
    let attribution_start = lower.starts_with("den ")
        || lower.starts_with("on ")
        || lower.starts_with("am ")
        || lower.starts_with("le ");
    let says_wrote = |l: &str| {
        let l = l.to_lowercase();
        [" skrev", " wrote", " schrieb", " a écrit"]
            .iter()
            .any(|w| l.contains(w))
    };
    let ends_with_colon = |l: &str| l.trim_end().ends_with(':');
    if attribution_start
        && says_wrote(line)
        && (ends_with_colon(line) || next.is_some_and(ends_with_colon))
    {
        return true;
    }
    if !attribution_start && says_wrote(line) && ends_with_colon(line) && lower.contains('@') {
        return true;
    }
    // An Outlook header block: "Från: ...", then "Skickat:" / "Till:" within a few lines.
    let header_start = lower.starts_with("från:") || lower.starts_with("from:");
    if header_start {
        let block_follows = rest.iter().take(4).any(|l| {
            let l = l.trim().to_lowercase();
            [
                "skickat:", "sent:", "till:", "to:", "datum:", "date:", "ämne:", "subject:",
            ]
            .iter()
            .any(|h| l.starts_with(h))
        });
        if block_follows {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_keeps_new_text_and_drops_history() {
        let cases: &[(&str, &str)] = &[
            (
                "Hej!\nNär töms soporna?\n\nDen 20 nov. 2026 kl. 10:12 skrev Kontaktcenter <kc@kommun.se>:\n> Tack för ditt mejl\n",
                "Hej!\nNär töms soporna?",
            ),
            (
                "Ny fråga här\nDen 20 nov. 2026 kl. 10:12 skrev Kontaktcenter\n<kc@kommun.se>:\n> gammalt\n",
                "Ny fråga här",
            ),
            (
                "Question about parking\n\nSent from my iPhone\n",
                "Question about parking",
            ),
            (
                "Se nedan.\n\n-----Ursprungligt meddelande-----\nFrån: Granne\nSkickat: idag\nÄmne: x\nbygglov\n",
                "Se nedan.",
            ),
            (
                "Min fråga gäller skolskjuts.\n\nFrån: Skolan <skola@example.se>\nSkickat: den 3 november 2026\nTill: mig\nÄmne: info\n\nInfo om busskort\n",
                "Min fråga gäller skolskjuts.",
            ),
            (
                "Vattnet är brunt.\n--\nAnna Andersson\nProjektledare\n070-123 45 67\n",
                "Vattnet är brunt.",
            ),
            (
                "> quoted first\nreply inline\n> more quote\nsecond inline\n",
                "reply inline\nsecond inline",
            ),
            ("Från: början vill jag tacka er.\nBra jobbat.", "Från: början vill jag tacka er.\nBra jobbat."),
            (
                "Får jag ställa husbilen här?\n\nMvh Anna Svensson\n070-123 45 67\n",
                "Får jag ställa husbilen här?",
            ),
            (
                "Tack för svaret.\nMed vänliga hälsningar,\nPer\nStorgatan 1\n",
                "Tack för svaret.",
            ),
            (
                "Kind regards from a newcomer who wants a library card\nand more text\n",
                "Kind regards from a newcomer who wants a library card\nand more text",
            ),
            ("Hälsningar\n", ""),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &text_for_classification(input),
                expected,
                "input: {input:?}"
            );
        }
    }
}
