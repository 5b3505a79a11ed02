//! Finding and redacting personal data in free text.
//!
//! Citizens write personnummer, phone numbers, e-mail addresses, bank and card numbers and their
//! own names into their mail. Before any text from a mail reaches the knowledge base, statistics
//! or a log line, [`redact`] replaces each such item with a placeholder such as `[personnummer]`,
//! so the text keeps its meaning while the person disappears from it.
//!
//! How it works, and why:
//! - Scanning is linear in the input. One pass over the bytes starts the numeric matchers at every
//!   digit run, `+` and `(`; each matcher looks ahead a bounded number of bytes. E-mail addresses
//!   are grown outwards from each `@` with length caps, names are matched word by word against a
//!   hash map. A 100 kB mail costs a few milliseconds.
//! - Matchers prefer precision, because a false positive destroys useful text while real data
//!   comes in well-known shapes: personnummer and card numbers must pass Luhn, IBANs mod-97, a
//!   bank account needs a cue word such as "kontonummer" or "bankgiro" shortly before it, and an
//!   invoice, order or case label before a number keeps it from being taken for a phone number.
//! - Overlapping candidates are resolved once at the end: an e-mail address wins over everything
//!   inside it, personnummer, card and bank numbers win over phone numbers, and otherwise the
//!   longer candidate wins.
//! - Every range lies on character boundaries; nothing here panics on any input.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

/// The kinds of personal data that [`find_personal_data`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonalDataKind {
    /// A Swedish personal identity number, `YYMMDD-NNNN` or `YYYYMMDDNNNN`.
    Personnummer,
    /// A coordination number: a personnummer with 60 added to the day.
    Samordningsnummer,
    /// A Swedish or international phone number.
    Phone,
    /// An e-mail address.
    Email,
    /// A bank account with clearing number, a bankgiro, a plusgiro or an IBAN.
    BankAccount,
    /// A payment card number.
    CardNumber,
    /// A person's name: the sender's, or one the text states as the writer's own.
    Name,
}

impl PersonalDataKind {
    /// Every kind, in a stable order.
    pub const ALL: [PersonalDataKind; 7] = [
        PersonalDataKind::Personnummer,
        PersonalDataKind::Samordningsnummer,
        PersonalDataKind::Phone,
        PersonalDataKind::Email,
        PersonalDataKind::BankAccount,
        PersonalDataKind::CardNumber,
        PersonalDataKind::Name,
    ];

    /// The placeholder that replaces an item of this kind in redacted text.
    pub fn placeholder(self) -> &'static str {
        match self {
            PersonalDataKind::Personnummer => "[personnummer]",
            PersonalDataKind::Samordningsnummer => "[samordningsnummer]",
            PersonalDataKind::Phone => "[telefon]",
            PersonalDataKind::Email => "[e-post]",
            PersonalDataKind::BankAccount => "[kontonummer]",
            PersonalDataKind::CardNumber => "[kortnummer]",
            PersonalDataKind::Name => "[namn]",
        }
    }

    /// A stable English identifier, for statistics and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            PersonalDataKind::Personnummer => "personnummer",
            PersonalDataKind::Samordningsnummer => "samordningsnummer",
            PersonalDataKind::Phone => "phone",
            PersonalDataKind::Email => "email",
            PersonalDataKind::BankAccount => "bank_account",
            PersonalDataKind::CardNumber => "card_number",
            PersonalDataKind::Name => "name",
        }
    }

    /// Which kind wins when candidates overlap, before length is considered: an address
    /// swallows whatever it contains, and strongly validated numbers beat phone numbers.
    fn precedence(self) -> u8 {
        match self {
            PersonalDataKind::Email => 3,
            PersonalDataKind::Personnummer
            | PersonalDataKind::Samordningsnummer
            | PersonalDataKind::CardNumber
            | PersonalDataKind::BankAccount => 2,
            PersonalDataKind::Phone | PersonalDataKind::Name => 1,
        }
    }

    /// Tie-break between overlapping candidates of equal precedence and length.
    fn tie_rank(self) -> u8 {
        match self {
            PersonalDataKind::Email => 7,
            PersonalDataKind::Personnummer => 6,
            PersonalDataKind::Samordningsnummer => 5,
            PersonalDataKind::CardNumber => 4,
            PersonalDataKind::BankAccount => 3,
            PersonalDataKind::Phone => 2,
            PersonalDataKind::Name => 1,
        }
    }
}

/// One item of personal data found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What the item is.
    pub kind: PersonalDataKind,
    /// Byte range in the input text; always on character boundaries.
    pub range: Range<usize>,
}

/// Finds the personal data in `text`, sorted by position and without overlaps.
///
/// `known_names` are names known to belong to the writer, usually the display name of the
/// `From` header. Names the text itself states ([`names_stated_in`]) are added to them. A name
/// matches as whole words, case-sensitively; each part of a name with at least three letters
/// that starts with a capital also matches on its own ("Svensson" of "Anna Svensson").
pub fn find_personal_data(text: &str, known_names: &[&str]) -> Vec<Finding> {
    if text.is_empty() {
        return Vec::new();
    }
    let words = word_spans(text);
    let cues = CueIndex::new(text, &words);
    let mut candidates = Vec::new();
    find_numbers(text, &cues, &mut candidates);
    find_emails(text, &mut candidates);
    find_ibans(text, &words, &mut candidates);

    let stated = stated_name_ranges(text, &words);
    let mut names: Vec<&str> = known_names.to_vec();
    names.extend(stated.into_iter().map(|range| &text[range]));
    find_names(text, &words, &names, &mut candidates);

    resolve_overlaps(candidates)
}

/// Replaces every item of personal data in `text` by its placeholder, such as `[telefon]`.
///
/// Uses [`find_personal_data`], so names stated in the text are redacted together with
/// `known_names`.
pub fn redact(text: &str, known_names: &[&str]) -> String {
    let findings = find_personal_data(text, known_names);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for finding in findings {
        out.push_str(&text[copied..finding.range.start]);
        out.push_str(finding.kind.placeholder());
        copied = finding.range.end;
    }
    out.push_str(&text[copied..]);
    out
}

/// The writer's own name where the text states it: after "Jag heter", "My name is", "Namn:",
/// and after sign-offs such as "Mvh", "Med vänliga hälsningar", "Hälsningar,", "Regards,",
/// "Tack på förhand," or a line starting with "/".
///
/// A name is one to three capitalised words on the same line. Lowercase words, common
/// capitalised words ("Kommunen", "Kontaktcenter", "Team", "Tel") and organisations ("Strömstads
/// kommun", "Socialtjänsten") are not names. Each name is returned once, in order of appearance.
pub fn names_stated_in(text: &str) -> Vec<String> {
    let words = word_spans(text);
    let mut seen = HashSet::new();
    stated_name_ranges(text, &words)
        .into_iter()
        .map(|range| &text[range])
        .filter(|name| seen.insert(*name))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Words and cue words

/// A maximal run of alphanumeric characters.
#[derive(Debug, Clone, Copy)]
struct Word {
    start: usize,
    end: usize,
}

fn word_spans(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            words.push(Word { start: s, end: i });
        }
    }
    if let Some(s) = start {
        words.push(Word {
            start: s,
            end: text.len(),
        });
    }
    words
}

fn word_text<'a>(text: &'a str, word: &Word) -> &'a str {
    &text[word.start..word.end]
}

/// How far before a number (in bytes) a cue word still counts.
const CUE_WINDOW: usize = 40;

/// What a word shortly before a number says about that number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    Personnummer,
    Phone,
    Clearing,
    Giro,
    Account,
    Card,
    /// Invoice, order, case and other reference numbers: not personal data.
    Label,
}

fn classify_cue(word: &str) -> Option<Cue> {
    const PERSONNUMMER: &[&str] = &[
        "pnr",
        "persnr",
        "personnr",
        "födelsenummer",
        "född",
        "identity",
        "coordination",
        "ssn",
    ];
    const GIRO: &[&str] = &["bg", "pg", "giro", "girot", "postgiro"];
    const LABEL: &[&str] = &[
        "ocr",
        "order",
        "ordern",
        "ordernr",
        "beställning",
        "beställningen",
        "ärende",
        "ärendet",
        "ärendenr",
        "dnr",
        "diarienr",
        "ref",
        "referens",
        "kundnr",
        "avtal",
        "avtalet",
        "invoice",
        "reference",
        "case",
        "ticket",
        "booking",
        "bokning",
        "bokningen",
        "lgh",
        "orgnr",
        "tracking",
        "paket",
        "kolli",
        "mätare",
    ];
    const LABEL_PREFIXES: &[&str] = &[
        "faktura",
        "ordernum",
        "ärendenum",
        "diarienum",
        "referensn",
        "kundnum",
        "avtalsnum",
        "bokningsnum",
        "beställningsnum",
        "medlemsnum",
        "anläggningsnum",
        "mätarnum",
        "lägenhetsnum",
        "objektnum",
        "artikelnum",
        "serienum",
        "organisationsnum",
        "ocrnum",
        "sändningsnum",
        "kollinum",
        "fastighetsbet",
    ];
    const CARD: &[&str] = &["card", "visa", "mastercard", "amex", "maestro", "kortnr"];
    const ACCOUNT: &[&str] = &[
        "kto",
        "iban",
        "account",
        "accounts",
        "acct",
        "bank",
        "banken",
        "bankens",
        "swedbank",
        "nordea",
        "handelsbanken",
        "seb",
        "danske",
        "icabanken",
        "sparbanken",
        "länsförsäkringar",
        "skandiabanken",
    ];
    const PHONE: &[&str] = &[
        "tel",
        "tfn",
        "telnr",
        "mobil",
        "mob",
        "mobiltelefon",
        "ring",
        "ringa",
        "ringer",
        "ringde",
        "nå",
        "nås",
        "sms",
        "växel",
        "direkt",
        "phone",
        "telephone",
        "mobile",
        "cell",
        "call",
        "reach",
        "text",
        "whatsapp",
        "fax",
    ];

    if PERSONNUMMER.contains(&word)
        || word.starts_with("personnum")
        || word.starts_with("samordningsn")
    {
        Some(Cue::Personnummer)
    } else if word.starts_with("clearing") {
        Some(Cue::Clearing)
    } else if GIRO.contains(&word) || word.starts_with("bankgiro") || word.starts_with("plusgiro") {
        Some(Cue::Giro)
    } else if LABEL.contains(&word) || LABEL_PREFIXES.iter().any(|p| word.starts_with(p)) {
        Some(Cue::Label)
    } else if CARD.contains(&word)
        || word.ends_with("kort")
        || word.ends_with("kortet")
        || word.starts_with("kortnum")
    {
        Some(Cue::Card)
    } else if ACCOUNT.contains(&word)
        || word.ends_with("konto")
        || word.ends_with("kontot")
        || word.contains("kontonum")
        || word.ends_with("kontonr")
    {
        Some(Cue::Account)
    } else if PHONE.contains(&word)
        || word.starts_with("telefon")
        || word.starts_with("mobilnum")
        || word.starts_with("mobilnr")
    {
        Some(Cue::Phone)
    } else {
        None
    }
}

/// Cue words in text order.
///
/// A cue speaks for the first number after it (or, for a personnummer cue, right before it)
/// within the same sentence: "Fakturanummer 123, ring 070-..." labels only the invoice number.
struct CueIndex<'t> {
    text: &'t str,
    /// (start, end, cue) of each cue word.
    entries: Vec<(usize, usize, Cue)>,
}

impl<'t> CueIndex<'t> {
    fn new(text: &'t str, words: &[Word]) -> Self {
        let mut lower = String::new();
        let entries = words
            .iter()
            .filter_map(|w| {
                let s = word_text(text, w);
                if !(2..=40).contains(&s.len()) || !s.starts_with(char::is_alphabetic) {
                    return None;
                }
                lowercase_into(&mut lower, s);
                classify_cue(&lower).map(|cue| (w.start, w.end, cue))
            })
            .collect();
        CueIndex { text, entries }
    }

    /// The cue word closest before the number at `pos`, if nothing separates them.
    fn before(&self, pos: usize) -> Option<Cue> {
        let idx = self.entries.partition_point(|&(_, end, _)| end <= pos);
        let (_, end, cue) = *self.entries.get(idx.checked_sub(1)?)?;
        (pos - end <= CUE_WINDOW && self.nothing_between(end, pos)).then_some(cue)
    }

    /// The cue word right after the number ending at `end`: "0409263597 (personnummer)".
    fn after(&self, end: usize) -> Option<Cue> {
        let idx = self.entries.partition_point(|&(start, _, _)| start < end);
        let (start, _, cue) = *self.entries.get(idx)?;
        (start - end <= CUE_WINDOW / 2 && self.nothing_between(end, start)).then_some(cue)
    }

    /// No other number and no sentence end between a cue and its number.
    fn nothing_between(&self, from: usize, to: usize) -> bool {
        let gap = &self.text[from..to];
        if gap.bytes().any(|c| c.is_ascii_digit()) || gap.contains("\n\n") {
            return false;
        }
        for (offset, c) in gap.char_indices() {
            if !matches!(c, '.' | '!' | '?') {
                continue;
            }
            let rest = &gap[offset + 1..];
            if rest.starts_with('\n') {
                return false;
            }
            if !rest.starts_with(char::is_whitespace) {
                continue;
            }
            // "nr. 123", "fakturanr. 123" and "tel. 070" are abbreviations, "ärendet. 123"
            // ends a sentence
            let before = &self.text[..from + offset];
            let letters_before = before
                .chars()
                .rev()
                .take_while(|c| c.is_alphabetic())
                .take(4)
                .count();
            let abbreviation = c == '.'
                && (letters_before <= 3 || ["nr", "Nr", "NR"].iter().any(|n| before.ends_with(n)));
            let capital_follows = rest.trim_start().starts_with(char::is_uppercase);
            if !abbreviation || capital_follows {
                return false;
            }
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Numbers: personnummer, phone, card and bank numbers

/// Longest digit run measured exactly; anything longer is too long for every matcher.
const DIGIT_RUN_CAP: usize = 24;

fn digit_run(b: &[u8], i: usize) -> usize {
    b.get(i..).map_or(0, |rest| {
        rest.iter()
            .take(DIGIT_RUN_CAP)
            .take_while(|c| c.is_ascii_digit())
            .count()
    })
}

fn byte_at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn is_nonzero_digit(c: u8) -> bool {
    (b'1'..=b'9').contains(&c)
}

/// Digit values (0-9) of the ASCII digits in `b`.
fn digit_values(b: &[u8]) -> Vec<u8> {
    b.iter()
        .filter(|c| c.is_ascii_digit())
        .map(|c| c - b'0')
        .collect()
}

fn number_value(digits: &[u8]) -> u32 {
    digits.iter().fold(0u32, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u32::from(d))
    })
}

/// The Luhn (mod 10) check used by personnummer, card numbers, bankgiro and plusgiro.
fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(idx, &d)| {
            let v = u32::from(d);
            if idx % 2 == 1 {
                let doubled = v * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                v
            }
        })
        .sum();
    !digits.is_empty() && sum % 10 == 0
}

/// What stands immediately before a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Boundary {
    /// Start of text, a space after a word, punctuation: the number stands on its own.
    Clear,
    /// A space after another number: the number may continue an earlier one.
    AfterNumber,
    /// A letter or digit, or a connector inside a token such as `KC-2026-000123` or `10:30`.
    Blocked,
}

fn left_boundary(text: &str, i: usize) -> Boundary {
    let mut before = text[..i].chars().rev();
    let Some(prev) = before.next() else {
        return Boundary::Clear;
    };
    if prev.is_alphanumeric() {
        return Boundary::Blocked;
    }
    let prev2 = before.next();
    match prev {
        '-' | '_' | '+' | '–' if prev2.is_some_and(char::is_alphanumeric) => Boundary::Blocked,
        '.' | ',' | ':' | '/' if prev2.is_some_and(|c| c.is_ascii_digit()) => Boundary::Blocked,
        ' ' | '\u{a0}' if prev2.is_some_and(|c| c.is_ascii_digit()) => Boundary::AfterNumber,
        _ => Boundary::Clear,
    }
}

/// Whether a number may end at `end`: not inside a word, not followed by `-`, `/`, `:` and
/// more digits.
fn right_boundary_ok(text: &str, end: usize) -> bool {
    let mut after = text[end..].chars();
    let Some(next) = after.next() else {
        return true;
    };
    if next.is_alphanumeric() {
        return false;
    }
    if matches!(next, '-' | '_' | '+' | '–' | '.' | ',' | ':' | '/') {
        return !after.next().is_some_and(|c| c.is_ascii_digit());
    }
    true
}

/// Digit groups of a number and the separators between them.
#[derive(Debug, Default)]
struct Groups {
    /// Byte ranges of the digit runs.
    spans: Vec<(usize, usize)>,
    /// The separator after each group but the last: `b' '`, `b'-'`, `b'/'` or `b','`.
    seps: Vec<u8>,
}

impl Groups {
    fn lens(&self, k: usize) -> Vec<usize> {
        self.spans[..k].iter().map(|(s, e)| e - s).collect()
    }

    fn digits(&self, b: &[u8], k: usize) -> Vec<u8> {
        self.spans[..k]
            .iter()
            .flat_map(|&(s, e)| b[s..e].iter().map(|c| c - b'0'))
            .collect()
    }

    fn group_values(&self, b: &[u8], k: usize) -> Vec<Vec<u8>> {
        self.spans[..k]
            .iter()
            .map(|&(s, e)| digit_values(&b[s..e]))
            .collect()
    }
}

/// Whether three groups read as a date: `2025-03-14`, `14/03/2025`, `03-14-25`.
fn is_date_shape(groups: &[Vec<u8>], seps: &[u8]) -> bool {
    if groups.len() != 3 || seps.len() < 2 || seps[0] != seps[1] {
        return false;
    }
    if !matches!(seps[0], b'-' | b'/' | b'.') {
        return false;
    }
    let (a, b, c) = (&groups[0], &groups[1], &groups[2]);
    let (x, y, z) = (number_value(a), number_value(b), number_value(c));
    let day = |v: u32| (1..=31).contains(&v);
    let month = |v: u32| (1..=12).contains(&v);
    match (a.len(), b.len(), c.len()) {
        (4, 1..=2, 1..=2) => month(y) && day(z),
        (1..=2, 1..=2, 2 | 4) => (day(x) && month(y)) || (month(x) && day(y)),
        _ => false,
    }
}

fn find_numbers(text: &str, cues: &CueIndex<'_>, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        let run_start = c.is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit());
        if run_start {
            out.extend(match_personnummer(text, i, cues));
            out.extend(match_card(text, i, cues));
            out.extend(match_bank_account(text, i, cues));
        }
        if (run_start && c == b'0') || c == b'+' || c == b'(' {
            out.extend(match_phone(text, i, cues));
        }
    }
}

fn days_in_month(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => 0,
    }
}

/// Personnummer or samordningsnummer, from the 10-digit form, if month and day are valid.
fn identity_number_kind(ten: &[u8]) -> Option<PersonalDataKind> {
    let month = number_value(&ten[2..4]);
    let day = number_value(&ten[4..6]);
    let last_day = days_in_month(month);
    if last_day == 0 {
        None
    } else if (1..=last_day).contains(&day) {
        Some(PersonalDataKind::Personnummer)
    } else if (61..=60 + last_day).contains(&day) {
        Some(PersonalDataKind::Samordningsnummer)
    } else {
        None
    }
}

/// `YYMMDD-NNNN`, `YYMMDD+NNNN`, `YYMMDD NNNN`, `YYMMDDNNNN` and the same with the century.
fn match_personnummer(text: &str, i: usize, cues: &CueIndex<'_>) -> Option<Finding> {
    let b = text.as_bytes();
    if left_boundary(text, i) == Boundary::Blocked {
        return None;
    }
    let first = digit_run(b, i);
    let (end, delimited, space) = match first {
        10 | 12 => (i + first, false, false),
        6 | 8 => {
            let sep = byte_at(b, i + first);
            // the dash may be an en dash, as word processors write it
            let sep_len = if text[i + first..].starts_with('–') {
                '–'.len_utf8()
            } else if matches!(sep, b'-' | b'+' | b' ') {
                1
            } else {
                return None;
            };
            if digit_run(b, i + first + sep_len) != 4 {
                return None;
            }
            (i + first + sep_len + 4, true, sep == b' ')
        }
        _ => return None,
    };
    if !right_boundary_ok(text, end) {
        return None;
    }
    // "850314 1234 56": a longer space-separated number, not a personnummer
    if space && byte_at(b, end) == b' ' && byte_at(b, end + 1).is_ascii_digit() {
        return None;
    }
    let digits = digit_values(&b[i..end]);
    let ten = if digits.len() == 12 {
        if !(18..=20).contains(&number_value(&digits[..2])) {
            return None;
        }
        &digits[2..]
    } else {
        &digits[..]
    };
    let kind = identity_number_kind(ten)?;
    if !luhn_valid(ten) {
        return None;
    }
    if !delimited {
        // An undelimited number after "Faktura", "Order" or "OCR" is a reference number.
        let cue = cues.before(i);
        if cue == Some(Cue::Label) {
            return None;
        }
        // "0701234567" is a mobile number unless a cue says otherwise (070 is the one mobile
        // prefix that also reads as a date); other ten digits starting with 0 yield to a
        // phone cue.
        if first == 10 && b[i] == b'0' {
            let pnr_cue =
                cue == Some(Cue::Personnummer) || cues.after(end) == Some(Cue::Personnummer);
            let mobile = b[i..].starts_with(b"070");
            if (mobile || cue == Some(Cue::Phone)) && !pnr_cue {
                return None;
            }
        }
    }
    Some(Finding {
        kind,
        range: i..end,
    })
}

/// Separator inside a phone number at `pos`: its length and its kind.
fn phone_separator(text: &str, pos: usize) -> Option<(usize, u8)> {
    const SEPARATORS: [(&str, u8); 7] = [
        (" - ", b'-'),
        (" – ", b'-'),
        (" / ", b'/'),
        ("-", b'-'),
        ("–", b'-'),
        ("/", b'/'),
        (" ", b' '),
    ];
    let rest = text.get(pos..)?;
    SEPARATORS
        .iter()
        .find(|(sep, _)| rest.starts_with(*sep))
        .map(|&(sep, kind)| (sep.len(), kind))
}

/// The trunk prefix in `+46 (0)70 ...`: its length including a following space or dash.
fn trunk_prefix(text: &str, pos: usize) -> Option<usize> {
    let rest = text.get(pos..)?.as_bytes();
    let len = if rest.starts_with(b" (0)") {
        4
    } else if rest.starts_with(b"(0)") {
        3
    } else {
        return None;
    };
    let extra = usize::from(matches!(rest.get(len), Some(b' ' | b'-')));
    rest.get(len + extra)
        .filter(|c| c.is_ascii_digit())
        .map(|_| len + extra)
}

/// Whether the digits make a plausible phone number. National numbers count the leading 0;
/// international ones count everything after `+` or `00`.
fn phone_digits_ok(digits: &[u8], international: bool) -> bool {
    if !international {
        return if digits.starts_with(&[0, 7]) {
            digits.len() == 10
        } else {
            (7..=10).contains(&digits.len())
        };
    }
    match digits {
        [4, 6, national @ ..] => {
            let national = match national {
                [0, rest @ ..] => rest,
                _ => national,
            };
            if national.first() == Some(&7) {
                national.len() == 9
            } else {
                (7..=9).contains(&national.len())
            }
        }
        _ => (7..=15).contains(&digits.len()),
    }
}

/// Swedish and international phone numbers: `070-123 45 67`, `08-123 456 78`, `(031) 12 34 56`,
/// `+46 (0)70 123 45 67`, `0046 70 ...`, `+44 20 7946 0958`.
fn match_phone(text: &str, i: usize, cues: &CueIndex<'_>) -> Option<Finding> {
    let b = text.as_bytes();
    if left_boundary(text, i) != Boundary::Clear {
        return None;
    }
    let mut groups = Groups::default();
    let international;
    let mut pos;
    match b[i] {
        b'+' => {
            if !is_nonzero_digit(byte_at(b, i + 1)) {
                return None;
            }
            international = true;
            pos = i + 1;
        }
        b'(' => {
            let run = digit_run(b, i + 1);
            if byte_at(b, i + 1) != b'0'
                || !is_nonzero_digit(byte_at(b, i + 2))
                || !(2..=4).contains(&run)
                || byte_at(b, i + 1 + run) != b')'
            {
                return None;
            }
            groups.spans.push((i + 1, i + 1 + run));
            groups.seps.push(b' ');
            pos = i + 2 + run;
            if matches!(byte_at(b, pos), b' ' | b'-') {
                pos += 1;
            }
            if !byte_at(b, pos).is_ascii_digit() {
                return None;
            }
            international = false;
        }
        b'0' if byte_at(b, i + 1) == b'0' => {
            if !is_nonzero_digit(byte_at(b, i + 2)) {
                return None;
            }
            international = true;
            pos = i + 2;
        }
        b'0' if is_nonzero_digit(byte_at(b, i + 1)) => {
            international = false;
            pos = i;
        }
        _ => return None,
    }

    let max_digits = if international { 15 } else { 10 };
    let mut total: usize = groups.spans.iter().map(|(s, e)| e - s).sum();
    loop {
        let run = digit_run(b, pos);
        if run == 0 || total + run > max_digits {
            break;
        }
        groups.spans.push((pos, pos + run));
        total += run;
        pos += run;
        if international && groups.spans.len() == 1 {
            if let Some(len) = trunk_prefix(text, pos) {
                pos += len;
                groups.seps.push(b' ');
                continue;
            }
        }
        match phone_separator(text, pos) {
            Some((len, sep)) if byte_at(b, pos + len).is_ascii_digit() => {
                pos += len;
                groups.seps.push(sep);
            }
            _ => break,
        }
    }

    let mut k = groups.spans.len();
    while k > 0 && !phone_digits_ok(&groups.digits(b, k), international) {
        k -= 1;
    }
    if k == 0 {
        return None;
    }
    let end = groups.spans[k - 1].1;
    if !right_boundary_ok(text, end) {
        return None;
    }
    if !international && k == 3 && is_date_shape(&groups.group_values(b, 3), &groups.seps) {
        return None;
    }
    if cues.before(i) == Some(Cue::Label) {
        return None;
    }
    Some(Finding {
        kind: PersonalDataKind::Phone,
        range: i..end,
    })
}

/// Card numbers come as one run or in groups of four (Amex: 4-6-5, Diners: 4-6-4).
fn card_grouping_ok(lens: &[usize]) -> bool {
    match lens {
        [] => false,
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => init.iter().all(|&l| l == 4) && (1..=4).contains(last),
    }
}

/// Payment card numbers: 13-19 digits starting with 2-6, passing Luhn.
fn match_card(text: &str, i: usize, cues: &CueIndex<'_>) -> Option<Finding> {
    let b = text.as_bytes();
    if !(b'2'..=b'6').contains(&b[i])
        || left_boundary(text, i) != Boundary::Clear
        || text[..i].ends_with('+')
    {
        return None;
    }
    let mut groups = Groups::default();
    let mut pos = i;
    let mut total = 0;
    let mut sep: Option<u8> = None;
    loop {
        let run = digit_run(b, pos);
        if total + run > 19 {
            // "5000 0000 0583 9825 7466": more groups of four than a card has
            let more = byte_at(b, pos + run);
            let continues = matches!(more, b'-' | b'/' | b':' | b'.')
                && byte_at(b, pos + run + 1).is_ascii_digit();
            if !groups.spans.is_empty() && run <= 4 && !continues {
                return None;
            }
            break;
        }
        groups.spans.push((pos, pos + run));
        total += run;
        pos += run;
        let s = byte_at(b, pos);
        if matches!(s, b' ' | b'-')
            && sep.is_none_or(|x| x == s)
            && byte_at(b, pos + 1).is_ascii_digit()
        {
            sep = Some(s);
            groups.seps.push(s);
            pos += 1;
        } else {
            break;
        }
    }
    for k in (1..=groups.spans.len()).rev() {
        let lens = groups.lens(k);
        let total: usize = lens.iter().sum();
        if !(13..=19).contains(&total) || !card_grouping_ok(&lens) {
            continue;
        }
        let end = groups.spans[k - 1].1;
        if !right_boundary_ok(text, end) || !luhn_valid(&groups.digits(b, k)) {
            continue;
        }
        let cue = cues.before(i);
        if cue == Some(Cue::Label) {
            return None;
        }
        // "kontonummer 33008512121234": one run after a bank cue is an account
        if k == 1 && total <= 15 && matches!(cue, Some(Cue::Account | Cue::Clearing)) {
            return None;
        }
        return Some(Finding {
            kind: PersonalDataKind::CardNumber,
            range: i..end,
        });
    }
    None
}

/// Whether a unit follows a number: `kr`, `SEK`, `:-`, `%`, `st`, `år`.
fn followed_by_unit(text: &str, end: usize) -> bool {
    let rest = text[end..].trim_start_matches([' ', '\u{a0}']);
    if rest.starts_with(":-") || rest.starts_with(['€', '%', '$', '£']) {
        return true;
    }
    let unit: String = rest
        .chars()
        .take(9)
        .take_while(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    matches!(
        unit.as_str(),
        "kr" | "kronor"
            | "krona"
            | "sek"
            | "eur"
            | "euro"
            | "st"
            | "stycken"
            | "år"
            | "dagar"
            | "days"
            | "procent"
            | "percent"
    )
}

/// Dates and year ranges, which turn up after "kontot" as often as account numbers do.
fn looks_like_date_or_years(groups: &[Vec<u8>], seps: &[u8]) -> bool {
    let year = |g: &[u8]| g.len() == 4 && (1900..=2099).contains(&number_value(g));
    match groups {
        [a, b] if year(a) && b.len() == 4 => year(b) && number_value(b) >= number_value(a),
        [a, b] if year(a) && b.len() <= 2 => (1..=12).contains(&number_value(b)),
        [a] if a.len() == 8 && year(&a[..4]) => {
            (1..=12).contains(&number_value(&a[4..6])) && (1..=31).contains(&number_value(&a[6..]))
        }
        _ => is_date_shape(groups, seps),
    }
}

/// Bank accounts, bankgiro and plusgiro numbers, only after a cue word: `kontonummer 8327-9,
/// 123 456 789-0`, `konto 1234-5678901`, `bankgiro 5050-1055`, `plusgiro 12 34 56-6`.
fn match_bank_account(text: &str, i: usize, cues: &CueIndex<'_>) -> Option<Finding> {
    let b = text.as_bytes();
    // "+46 70 ..." is a phone number, whatever cue stands before it
    if b[i] == b'0' || left_boundary(text, i) != Boundary::Clear || text[..i].ends_with('+') {
        return None;
    }
    let cue = cues.before(i)?;
    let min_digits = match cue {
        Cue::Clearing => 4,
        Cue::Giro => 5,
        Cue::Account => 6,
        _ => return None,
    };
    const MAX_DIGITS: usize = 15;
    let mut groups = Groups::default();
    let mut pos = i;
    let mut total = 0;
    let mut comma_used = false;
    loop {
        let run = digit_run(b, pos);
        if total + run > MAX_DIGITS {
            if run <= 4 {
                // a longer grouped number than any Swedish account: something else
                return None;
            }
            break;
        }
        groups.spans.push((pos, pos + run));
        total += run;
        pos += run;
        let (len, sep) = match (byte_at(b, pos), byte_at(b, pos + 1)) {
            (b' ', _) => (1, b' '),
            (b'-', _) => (1, b'-'),
            (b',', b' ') => (2, b','),
            (b',', _) => (1, b','),
            _ if text[pos..].starts_with('–') => ('–'.len_utf8(), b'-'),
            _ => break,
        };
        let next = byte_at(b, pos + len);
        if !next.is_ascii_digit() {
            break;
        }
        if sep == b',' {
            // only "8327-9, 123 456 789-0": a clearing number, then the account
            if comma_used || !(4..=5).contains(&total) {
                break;
            }
            comma_used = true;
        }
        groups.seps.push(sep);
        pos += len;
    }
    let k = groups.spans.len();
    if k == 0 {
        return None;
    }
    let end = groups.spans[k - 1].1;
    if total < min_digits || !right_boundary_ok(text, end) {
        return None;
    }
    if looks_like_date_or_years(&groups.group_values(b, k), &groups.seps) {
        return None;
    }
    if cue == Cue::Giro && !luhn_valid(&groups.digits(b, k)) {
        return None;
    }
    if followed_by_unit(text, end) {
        return None;
    }
    Some(Finding {
        kind: PersonalDataKind::BankAccount,
        range: i..end,
    })
}

// ---------------------------------------------------------------------------------------------
// IBAN

fn iban_length(country: [u8; 2]) -> Option<usize> {
    let len = match &country {
        b"NO" => 15,
        b"BE" => 16,
        b"DK" | b"FI" | b"FO" | b"GL" | b"NL" => 18,
        b"MK" | b"SI" => 19,
        b"AT" | b"BA" | b"EE" | b"KZ" | b"LT" | b"LU" | b"XK" => 20,
        b"CH" | b"HR" | b"LI" | b"LV" => 21,
        b"BG" | b"BH" | b"CR" | b"DE" | b"GB" | b"GE" | b"IE" | b"ME" | b"RS" | b"VA" => 22,
        b"AE" | b"GI" | b"IL" | b"IQ" => 23,
        b"AD" | b"CZ" | b"ES" | b"MD" | b"PK" | b"RO" | b"SA" | b"SE" | b"SK" | b"TN" | b"VG" => 24,
        b"PT" => 25,
        b"IS" | b"TR" => 26,
        b"FR" | b"GR" | b"IT" | b"MC" | b"MR" | b"SM" => 27,
        b"AL" | b"AZ" | b"CY" | b"DO" | b"GT" | b"HU" | b"LB" | b"PL" => 28,
        b"BR" | b"EG" | b"PS" | b"QA" | b"UA" => 29,
        b"JO" | b"KW" | b"MU" => 30,
        b"MT" | b"SC" => 31,
        b"LC" => 32,
        _ => return None,
    };
    Some(len)
}

/// The IBAN check: move the first four characters to the end, read letters as 10-35, mod 97.
fn iban_checksum_ok(chars: &[u8]) -> bool {
    if chars.len() < 5 {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        rem = if c.is_ascii_digit() {
            (rem * 10 + u32::from(c - b'0')) % 97
        } else if c.is_ascii_uppercase() {
            (rem * 100 + u32::from(c - b'A') + 10) % 97
        } else {
            return false;
        };
    }
    rem == 1
}

/// IBANs by their shape alone: country, check digits, the national number, mod-97.
fn find_ibans(text: &str, words: &[Word], out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    for w in words {
        let s = w.start;
        if w.end - s < 4
            || !b[s].is_ascii_alphabetic()
            || !b[s + 1].is_ascii_alphabetic()
            || !b[s + 2].is_ascii_digit()
            || !b[s + 3].is_ascii_digit()
        {
            continue;
        }
        let country = [b[s].to_ascii_uppercase(), b[s + 1].to_ascii_uppercase()];
        let Some(len) = iban_length(country) else {
            continue;
        };
        let mut chars = Vec::with_capacity(len);
        let mut pos = s;
        while chars.len() < len {
            let c = byte_at(b, pos);
            if c.is_ascii_alphanumeric() {
                chars.push(c.to_ascii_uppercase());
                pos += 1;
            } else if c == b' ' && byte_at(b, pos + 1).is_ascii_alphanumeric() {
                pos += 1;
            } else {
                break;
            }
        }
        if chars.len() != len || byte_at(b, pos).is_ascii_alphanumeric() {
            continue;
        }
        if !right_boundary_ok(text, pos) || !iban_checksum_ok(&chars) {
            continue;
        }
        out.push(Finding {
            kind: PersonalDataKind::BankAccount,
            range: s..pos,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// E-mail addresses

fn find_emails(text: &str, out: &mut Vec<Finding>) {
    for (at, _) in text.match_indices('@') {
        let Some(start) = local_part_start(text, at) else {
            continue;
        };
        let Some(end) = domain_end(text, at + 1) else {
            continue;
        };
        out.push(Finding {
            kind: PersonalDataKind::Email,
            range: start..end,
        });
    }
}

fn local_part_start(text: &str, at: usize) -> Option<usize> {
    let mut start = at;
    let mut count = 0;
    for (idx, c) in text[..at].char_indices().rev() {
        if !(c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '\'')) {
            break;
        }
        count += 1;
        if count > 64 {
            return None;
        }
        start = idx;
    }
    // a quote or full stop in front belongs to the sentence, not to the address
    let local = text[start..at].trim_start_matches(['.', '\'', '-', '+']);
    let start = at - local.len();
    if local.is_empty()
        || local.ends_with('.')
        || local.contains("..")
        || !local.chars().any(char::is_alphanumeric)
    {
        return None;
    }
    Some(start)
}

fn domain_end(text: &str, from: usize) -> Option<usize> {
    let mut end = from;
    let mut count = 0;
    for (idx, c) in text[from..].char_indices() {
        if !(c.is_alphanumeric() || c == '-' || c == '.') {
            break;
        }
        count += 1;
        if count > 253 {
            return None;
        }
        end = from + idx + c.len_utf8();
    }
    // a full stop after the address ends the sentence
    let domain = text[from..end].trim_end_matches(['.', '-']);
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.len() > 63 || l.starts_with('-') || l.ends_with('-'))
    {
        return None;
    }
    let tld = labels.last()?;
    if tld.chars().count() < 2 || !tld.chars().all(char::is_alphabetic) {
        return None;
    }
    Some(from + domain.len())
}

// ---------------------------------------------------------------------------------------------
// Names

/// Capitalised words that follow a sign-off or an introduction without being a name.
/// Compared in lowercase.
const NOT_NAMES: &[&str] = &[
    "kommunen",
    "kommun",
    "kontaktcenter",
    "kontaktcentret",
    "tack",
    "hej",
    "hejsan",
    "team",
    "teamet",
    "kundtjänst",
    "kundservice",
    "support",
    "service",
    "info",
    "admin",
    "receptionen",
    "mvh",
    "vh",
    "med",
    "vänlig",
    "vänliga",
    "hälsning",
    "hälsningar",
    "hälsn",
    "regards",
    "kind",
    "best",
    "sincerely",
    "thanks",
    "thank",
    "cheers",
    "hello",
    "hi",
    "dear",
    "skickat",
    "sent",
    "från",
    "from",
    "till",
    "to",
    "get",
    "outlook",
    "iphone",
    "ipad",
    "android",
    "samsung",
    "gmail",
    "jag",
    "vi",
    "ni",
    "du",
    "han",
    "hon",
    "de",
    "det",
    "den",
    "detta",
    "denna",
    "här",
    "har",
    "kan",
    "om",
    "men",
    "och",
    "eller",
    "är",
    "var",
    "vad",
    "när",
    "hur",
    "vem",
    "varför",
    "min",
    "mitt",
    "mina",
    "vår",
    "vårt",
    "våra",
    "er",
    "ert",
    "era",
    "din",
    "ditt",
    "we",
    "you",
    "he",
    "she",
    "they",
    "it",
    "the",
    "this",
    "that",
    "and",
    "or",
    "my",
    "our",
    "your",
    "please",
    "hope",
    "looking",
    "have",
    "has",
    "is",
    "am",
    "are",
    "tel",
    "telefon",
    "tfn",
    "mobil",
    "mob",
    "phone",
    "mobile",
    "cell",
    "fax",
    "epost",
    "post",
    "email",
    "mail",
    "mejl",
    "adress",
    "address",
    "web",
    "www",
    "ps",
    "obs",
    "ang",
    "angående",
    "re",
    "sv",
    "vs",
    "fw",
    "fwd",
    "vb",
    "ämne",
    "subject",
    "god",
    "ha",
    "trevlig",
    "allt",
    "hoppas",
    "ser",
    "svar",
    "svara",
    "ring",
    "bifogar",
    "bilaga",
    "bilagor",
    "namn",
    "name",
    "personnummer",
    "gatuadress",
    "postnummer",
    "ort",
    "datum",
    "date",
    "måndag",
    "tisdag",
    "onsdag",
    "torsdag",
    "fredag",
    "lördag",
    "söndag",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
    "january",
    "february",
    "march",
    "may",
    "june",
    "july",
    "august",
    "october",
    "sverige",
    "sweden",
    "ab",
    "hb",
    "kb",
    "medborgare",
    "citizen",
    "resident",
    "invånare",
    "familj",
    "familjen",
    "family",
    "fam",
    "staff",
    "personal",
];

/// Endings of organisations and places of work: "Socialtjänsten", "Förskolan", "Stadshuset".
const ORGANISATION_ENDINGS: &[&str] = &[
    "kommun",
    "kommunen",
    "förvaltning",
    "förvaltningen",
    "nämnden",
    "tjänsten",
    "centret",
    "centralen",
    "enheten",
    "avdelningen",
    "skolan",
    "biblioteket",
    "kansliet",
    "kontoret",
    "bolaget",
    "gruppen",
    "teamet",
    "regionen",
    "boendet",
    "föreningen",
    "huset",
    "stiftelsen",
    "myndigheten",
    "verket",
    "sektionen",
];

/// Endings of street names: "Storgatan", "Björkvägen".
const STREET_ENDINGS: &[&str] = &[
    "gatan", "vägen", "gränd", "gränden", "stigen", "torget", "backen", "allé", "allén", "leden",
    "platsen", "street", "road", "avenue", "lane",
];

/// Lowercase words after a name that make it an organisation: "Strömstads kommun".
const ORGANISATION_WORDS: &[&str] = &[
    "kommun",
    "kommunen",
    "kommuns",
    "stad",
    "staden",
    "ab",
    "hb",
    "kb",
    "förvaltning",
    "förvaltningen",
    "församling",
    "län",
    "region",
    "municipality",
    "council",
    "ltd",
    "inc",
    "gmbh",
    "oy",
    "asa",
    "bostäder",
    "energi",
    "fastigheter",
];

fn lowercase(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn is_not_name(word: &str) -> bool {
    NOT_NAMES.contains(&lowercase(word).as_str())
}

fn is_organisation_or_street(word: &str) -> bool {
    let lower = lowercase(word);
    ORGANISATION_ENDINGS
        .iter()
        .chain(STREET_ENDINGS)
        .any(|ending| lower.ends_with(ending))
}

fn is_organisation_word(word: &str) -> bool {
    ORGANISATION_WORDS.contains(&lowercase(word).as_str())
}

/// A capitalised alphabetic word that is not on the stop list.
fn is_name_word(word: &str) -> bool {
    let count = word.chars().count();
    word.starts_with(char::is_uppercase)
        && (2..=30).contains(&count)
        && word.chars().all(char::is_alphabetic)
        && !is_not_name(word)
}

/// What may stand between the words of one name: a space, or a hyphen ("Anna-Karin").
fn is_name_gap(gap: &str) -> bool {
    matches!(gap, " " | "  " | "\t" | "-" | "\u{a0}")
}

fn eq_ignore_case(word: &str, lower: &str) -> bool {
    word.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

/// How a phrase introduces the writer's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhraseKind {
    /// "Jag heter Anna": the name follows on the same line.
    Intro,
    /// "Mvh", "Hälsningar", "Regards": the name follows, possibly on the next line.
    SignOff,
    /// "Tack!", "Thanks,": only a name that stands alone at the end of its line.
    Thanks,
    /// "Namn: Anna": a form field.
    Field,
}

const NAME_PHRASES: &[(&[&str], PhraseKind)] = &[
    (&["jag", "heter"], PhraseKind::Intro),
    (&["mitt", "namn", "är"], PhraseKind::Intro),
    (&["my", "name", "is"], PhraseKind::Intro),
    (&["mvh"], PhraseKind::SignOff),
    (&["vh"], PhraseKind::SignOff),
    (&["hälsning"], PhraseKind::SignOff),
    (&["hälsningar"], PhraseKind::SignOff),
    (&["hälsn"], PhraseKind::SignOff),
    (&["regards"], PhraseKind::SignOff),
    (&["sincerely"], PhraseKind::SignOff),
    (&["faithfully"], PhraseKind::SignOff),
    (&["best", "wishes"], PhraseKind::SignOff),
    (&["tack"], PhraseKind::Thanks),
    (&["tack", "på", "förhand"], PhraseKind::Thanks),
    (&["tack", "i", "förväg"], PhraseKind::Thanks),
    (&["tack", "för", "hjälpen"], PhraseKind::Thanks),
    (&["tack", "för", "svaret"], PhraseKind::Thanks),
    (&["tack", "så", "mycket"], PhraseKind::Thanks),
    (&["thanks"], PhraseKind::Thanks),
    (&["thanks", "again"], PhraseKind::Thanks),
    (&["thank", "you"], PhraseKind::Thanks),
    (&["thanks", "in", "advance"], PhraseKind::Thanks),
    (&["thank", "you", "for", "your", "help"], PhraseKind::Thanks),
    (&["cheers"], PhraseKind::Thanks),
    (&["namn"], PhraseKind::Field),
    (&["name"], PhraseKind::Field),
    (&["förnamn"], PhraseKind::Field),
    (&["efternamn"], PhraseKind::Field),
    (&["kontaktperson"], PhraseKind::Field),
    (&["avsändare"], PhraseKind::Field),
    // the header of a quoted or forwarded mail: "Från: Anna Svensson <anna@example.se>"
    (&["från"], PhraseKind::Field),
    (&["from"], PhraseKind::Field),
];

/// If `phrase` starts at word `wi`, the index of its last word.
fn phrase_at(text: &str, words: &[Word], wi: usize, phrase: &[&str]) -> Option<usize> {
    for (k, expected) in phrase.iter().enumerate() {
        let w = words.get(wi + k)?;
        if k > 0 {
            let gap = &text[words[wi + k - 1].end..w.start];
            if gap.is_empty() || gap.len() > 3 || !gap.chars().all(|c| c == ' ' || c == '\t') {
                return None;
            }
        }
        if !eq_ignore_case(word_text(text, w), expected) {
            return None;
        }
    }
    Some(wi + phrase.len() - 1)
}

/// What may stand between a phrase and the name: "Mvh Anna", "Hälsningar,\n\nAnna".
fn phrase_gap_ok(gap: &str, kind: PhraseKind) -> bool {
    if gap.is_empty() || gap.len() > 16 {
        return false;
    }
    let allowed = gap.chars().all(|c| {
        c.is_whitespace() || matches!(c, ',' | '!' | '.' | ':' | ';' | '/' | '-' | '–' | '—' | '*')
    });
    if !allowed {
        return false;
    }
    let newlines = gap.matches('\n').count();
    match kind {
        PhraseKind::Intro => gap.chars().all(|c| c == ' ' || c == '\t' || c == '\u{a0}'),
        PhraseKind::SignOff => newlines <= 2,
        PhraseKind::Thanks => newlines <= 2 && gap.contains([',', '!', '.', '\n']),
        PhraseKind::Field => newlines == 0 && gap.contains(':'),
    }
}

/// A signature line such as "/Anna" or "// Anna Svensson": is word start `pos` right after it?
fn after_slash_at_line_start(text: &str, pos: usize) -> bool {
    let mut before = text[..pos].chars().rev().peekable();
    if before.peek() == Some(&' ') {
        before.next();
    }
    let mut slashes = 0;
    while before.peek() == Some(&'/') {
        before.next();
        slashes += 1;
    }
    if !(1..=2).contains(&slashes) {
        return false;
    }
    let mut indent = 0;
    while matches!(before.peek(), Some(' ' | '\t')) && indent < 4 {
        before.next();
        indent += 1;
    }
    matches!(before.next(), None | Some('\n' | '\r'))
}

fn rest_of_line_is_blank(rest: &str) -> bool {
    rest.chars()
        .take_while(|&c| c != '\n')
        .all(|c| !c.is_alphanumeric())
}

/// One to three capitalised words starting at word `first`, if they make a name.
fn capture_name(
    text: &str,
    words: &[Word],
    first: usize,
    must_end_line: bool,
) -> Option<Range<usize>> {
    let mut wi = first;
    // "Familjen Svensson", "Dr. John Smith": the family word or title is not part of the name
    if let (Some(w), Some(next)) = (words.get(wi), words.get(wi + 1)) {
        let word = lowercase(word_text(text, w));
        let gap = &text[w.end..next.start];
        let family = matches!(word.as_str(), "familjen" | "family" | "fam") && is_name_gap(gap);
        let title = matches!(
            word.as_str(),
            "dr" | "mr" | "mrs" | "ms" | "prof" | "fru" | "herr"
        ) && matches!(gap, " " | ". ");
        if family || title {
            wi += 1;
        }
    }
    let start_wi = wi;
    let mut last_wi = None;
    while let Some(w) = words.get(wi) {
        let word = word_text(text, w);
        if !is_name_word(word) || is_organisation_or_street(word) {
            break;
        }
        last_wi = Some(wi);
        if wi + 1 - start_wi == 3 {
            break;
        }
        match words.get(wi + 1) {
            Some(next) if is_name_gap(&text[w.end..next.start]) => wi += 1,
            _ => break,
        }
    }
    let last_wi = last_wi?;
    let start = words[start_wi].start;
    let end = words[last_wi].end;
    let rest = &text[end..];
    // "Barn- och utbildningsförvaltningen": the first half of a compound is not a name
    if rest.starts_with('-') && !rest[1..].starts_with(char::is_alphanumeric) {
        return None;
    }
    if let Some(next) = words.get(last_wi + 1) {
        let gap = &text[end..next.start];
        if matches!(gap, " " | "  ") && is_organisation_word(word_text(text, next)) {
            return None;
        }
    }
    if must_end_line && !rest_of_line_is_blank(rest) {
        return None;
    }
    Some(start..end)
}

/// Lowercases `word` into `buffer`, reusing its allocation.
fn lowercase_into(buffer: &mut String, word: &str) {
    buffer.clear();
    buffer.extend(word.chars().flat_map(char::to_lowercase));
}

fn stated_name_ranges(text: &str, words: &[Word]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut lower = String::new();
    for (wi, word) in words.iter().enumerate() {
        let first = word_text(text, word);
        let may_start_phrase = first.len() <= 16 && {
            lowercase_into(&mut lower, first);
            NAME_PHRASES.iter().any(|(phrase, _)| phrase[0] == lower)
        };
        for &(phrase, kind) in NAME_PHRASES {
            if !may_start_phrase || phrase[0] != lower {
                continue;
            }
            let Some(last) = phrase_at(text, words, wi, phrase) else {
                continue;
            };
            let Some(next) = words.get(last + 1) else {
                continue;
            };
            if !phrase_gap_ok(&text[words[last].end..next.start], kind) {
                continue;
            }
            out.extend(capture_name(
                text,
                words,
                last + 1,
                kind == PhraseKind::Thanks,
            ));
        }
        if after_slash_at_line_start(text, word.start) {
            out.extend(capture_name(text, words, wi, true));
        }
    }
    out
}

/// Whether the name `parts` occurs at word `wi`, its words separated by spaces or hyphens.
fn sequence_at(text: &str, words: &[Word], wi: usize, parts: &[&str]) -> bool {
    parts.iter().enumerate().all(|(k, part)| {
        words.get(wi + k).is_some_and(|w| {
            word_text(text, w) == *part
                && (k == 0 || is_name_gap(&text[words[wi + k - 1].end..w.start]))
        })
    })
}

fn find_names(text: &str, words: &[Word], names: &[&str], out: &mut Vec<Finding>) {
    let mut sequences: HashMap<&str, Vec<Vec<&str>>> = HashMap::new();
    let mut singles: HashSet<&str> = HashSet::new();
    for name in names {
        let parts: Vec<&str> = name
            .split(|c: char| !c.is_alphanumeric())
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty()
            || parts.len() > 6
            || !parts.iter().all(|p| p.chars().all(char::is_alphabetic))
            || (parts.len() == 1 && is_not_name(parts[0]))
        {
            continue;
        }
        for part in &parts {
            if part.chars().count() >= 3
                && part.starts_with(char::is_uppercase)
                && !is_not_name(part)
                && !is_organisation_or_street(part)
            {
                singles.insert(part);
            }
        }
        let known = sequences.entry(parts[0]).or_default();
        if !known.contains(&parts) {
            known.push(parts);
        }
    }
    if sequences.is_empty() {
        return;
    }
    for known in sequences.values_mut() {
        known.sort_by_key(|parts| Reverse(parts.len()));
    }

    let mut hits: Vec<Range<usize>> = Vec::new();
    let mut wi = 0;
    while wi < words.len() {
        let w = words[wi];
        let word = word_text(text, &w);
        let matched = sequences.get(word).and_then(|known| {
            known
                .iter()
                .find(|parts| sequence_at(text, words, wi, parts))
                .map(Vec::len)
        });
        if let Some(len) = matched {
            hits.push(w.start..words[wi + len - 1].end);
            wi += len;
            continue;
        }
        if singles.contains(word) {
            hits.push(w.start..w.end);
        }
        wi += 1;
    }

    // "Anna" and "Svensson" side by side are one name
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(hits.len());
    for hit in hits {
        if let Some(prev) = merged.last_mut() {
            if is_name_gap(&text[prev.end..hit.start]) {
                prev.end = hit.end;
                continue;
            }
        }
        merged.push(hit);
    }
    out.extend(merged.into_iter().map(|range| Finding {
        kind: PersonalDataKind::Name,
        range,
    }));
}

// ---------------------------------------------------------------------------------------------
// Overlaps

fn resolve_overlaps(mut candidates: Vec<Finding>) -> Vec<Finding> {
    candidates.sort_by_key(|f| {
        (
            Reverse(f.kind.precedence()),
            Reverse(f.range.len()),
            Reverse(f.kind.tie_rank()),
            f.range.start,
        )
    });
    let mut accepted: BTreeMap<usize, Finding> = BTreeMap::new();
    for candidate in candidates {
        if candidate.range.is_empty() {
            continue;
        }
        let overlaps = accepted
            .range(..candidate.range.end)
            .next_back()
            .is_some_and(|(_, a)| a.range.end > candidate.range.start);
        if !overlaps {
            accepted.insert(candidate.range.start, candidate);
        }
    }
    accepted.into_values().collect()
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use PersonalDataKind::*;

    fn found(text: &str) -> Vec<(PersonalDataKind, &str)> {
        found_with(text, &[])
    }

    fn found_with<'a>(text: &'a str, known: &[&str]) -> Vec<(PersonalDataKind, &'a str)> {
        find_personal_data(text, known)
            .into_iter()
            .map(|f| (f.kind, &text[f.range]))
            .collect()
    }

    fn check_table(rows: &[(&str, &[(PersonalDataKind, &str)])]) {
        let mut failures = Vec::new();
        for (text, expected) in rows {
            let got = found(text);
            if got != expected.to_vec() {
                failures.push(format!("{text:?}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn personnummer_and_samordningsnummer_need_a_valid_date_and_luhn() {
        check_table(&[
            (
                "Mitt personnummer är 19121212-1212.",
                &[(Personnummer, "19121212-1212")],
            ),
            ("pnr 121212-1212", &[(Personnummer, "121212-1212")]),
            (
                "Född 121212+1212, över hundra",
                &[(Personnummer, "121212+1212")],
            ),
            ("1212121212", &[(Personnummer, "1212121212")]),
            (
                "Gäller 191212121212 tack",
                &[(Personnummer, "191212121212")],
            ),
            ("19121212 1212", &[(Personnummer, "19121212 1212")]),
            (
                "Personnummer: 811218-9876, tack",
                &[(Personnummer, "811218-9876")],
            ),
            ("(640823-3234)", &[(Personnummer, "640823-3234")]),
            ("Skolbarn 050101-1233 och", &[(Personnummer, "050101-1233")]),
            ("född 20200229-1231", &[(Personnummer, "20200229-1231")]),
            ("Pnr:0101013431", &[(Personnummer, "0101013431")]),
            (
                "Personnummer 19121212–1212",
                &[(Personnummer, "19121212–1212")],
            ),
            (
                "Det gäller min mamma, 0101013431, som",
                &[(Personnummer, "0101013431")],
            ),
            ("0101013431 (personnummer)", &[(Personnummer, "0101013431")]),
            (
                "Samordningsnummer 701063-2391",
                &[(Samordningsnummer, "701063-2391")],
            ),
            (
                "Mitt nr är 197010632391",
                &[(Samordningsnummer, "197010632391")],
            ),
            ("Tel 0101013431", &[(Phone, "0101013431")]),
            ("Mötet är 2025-03-14.", &[]),
            ("Ärende KC-2026-000123", &[]),
            ("Order 1212121213", &[]),
            ("121312-1212", &[]),
            ("120230-1234", &[]),
            ("x19121212-1212", &[]),
            ("19121212-12123", &[]),
            ("119121212-1212", &[]),
            ("Faktura 1212121212", &[]),
            ("12-12-12-1212", &[]),
            ("17121212-1212", &[]),
            ("121212-1213", &[]),
            ("121292-1212", &[]),
        ]);
    }

    #[test]
    fn phone_numbers_are_found_in_swedish_and_international_formats_but_not_dates() {
        check_table(&[
            ("Ring 070-123 45 67.", &[(Phone, "070-123 45 67")]),
            ("0701234567", &[(Phone, "0701234567")]),
            ("mobil 070 123 45 67 efter 16", &[(Phone, "070 123 45 67")]),
            ("Växel 08-123 456 78", &[(Phone, "08-123 456 78")]),
            ("tel. 031-12 34 56", &[(Phone, "031-12 34 56")]),
            ("+46 70 123 45 67", &[(Phone, "+46 70 123 45 67")]),
            ("(+46701234567)", &[(Phone, "+46701234567")]),
            ("0046 70 123 45 67", &[(Phone, "0046 70 123 45 67")]),
            ("Servicenummer 020-12 34 56", &[(Phone, "020-12 34 56")]),
            ("UK office +44 20 7946 0958", &[(Phone, "+44 20 7946 0958")]),
            ("Tel: 0523-61 30 00", &[(Phone, "0523-61 30 00")]),
            ("+46 (0)70-123 45 67", &[(Phone, "+46 (0)70-123 45 67")]),
            ("(08) 123 456 78", &[(Phone, "(08) 123 456 78")]),
            ("Tel:070-1234567", &[(Phone, "070-1234567")]),
            ("Ring 070-123 45 67 13 gånger", &[(Phone, "070-123 45 67")]),
            ("+358 40 123 4567", &[(Phone, "+358 40 123 4567")]),
            ("2025-03-14", &[]),
            ("kl 10:30", &[]),
            ("Ärende KC-2026-000123", &[]),
            ("Det kostar 1 250 kr", &[]),
            ("Storgatan 5, 452 30 Strömstad", &[]),
            ("Mellan 2019-2025", &[]),
            ("Skickat 04/03/2025", &[]),
            ("Öppet 08.00-17.00", &[]),
            ("Ring 112 eller 114 14", &[]),
            ("Fakturanummer 0123456789", &[]),
            ("Kundnummer 0012345678", &[]),
            ("070-123 45 678", &[]),
            ("0000000000", &[]),
            ("Dnr 2025/0123456", &[]),
            ("Sida 0-3", &[]),
            ("Fakturanr. 0123456789", &[]),
            (
                "Jag hittar inte ärendet. 070-123 45 67 är mitt nummer.",
                &[(Phone, "070-123 45 67")],
            ),
            (
                "Fakturanummer 12345 och mobil 0701234567",
                &[(Phone, "0701234567")],
            ),
        ]);
    }

    #[test]
    fn email_addresses_allow_unicode_local_parts_and_need_a_real_domain() {
        check_table(&[
            (
                "anna.svensson@gmail.com",
                &[(Email, "anna.svensson@gmail.com")],
            ),
            (
                "Svara till märta.åkesson@telia.com.",
                &[(Email, "märta.åkesson@telia.com")],
            ),
            (
                "kalle_anka+kommun@hotmail.se",
                &[(Email, "kalle_anka+kommun@hotmail.se")],
            ),
            (
                "<john.smith@example.co.uk>",
                &[(Email, "john.smith@example.co.uk")],
            ),
            ("Mejla (info@företag.se).", &[(Email, "info@företag.se")]),
            ("a@b.se", &[(Email, "a@b.se")]),
            (
                "first-last@sub.domain.org.",
                &[(Email, "first-last@sub.domain.org")],
            ),
            ("ANNA@GMAIL.COM", &[(Email, "ANNA@GMAIL.COM")]),
            ("o'brien@example.ie", &[(Email, "o'brien@example.ie")]),
            (
                "mailto:kalle@bredband2.com",
                &[(Email, "kalle@bredband2.com")],
            ),
            ("'anna@x.se'", &[(Email, "anna@x.se")]),
            ("anna@localhost", &[]),
            ("@gmail.com", &[]),
            ("anna@.se", &[]),
            ("anna@x.s", &[]),
            ("anna..b@x.se", &[]),
            ("anna@x..se", &[]),
            ("x@y.123", &[]),
            ("follow @handle", &[]),
            ("anna@gmail", &[]),
            ("user@-x.se", &[]),
            ("anna at gmail dot com", &[]),
        ]);
    }

    #[test]
    fn bank_accounts_need_a_cue_word_except_valid_ibans() {
        check_table(&[
            (
                "Kontonummer: 8327-9, 123 456 789-0",
                &[(BankAccount, "8327-9, 123 456 789-0")],
            ),
            (
                "Sätt in det på mitt konto 1234-5678901.",
                &[(BankAccount, "1234-5678901")],
            ),
            (
                "Clearing och konto: 1234 12 34567",
                &[(BankAccount, "1234 12 34567")],
            ),
            ("Bankgiro 5050-1055", &[(BankAccount, "5050-1055")]),
            ("bg 123-4566", &[(BankAccount, "123-4566")]),
            ("Plusgiro 12 34 56-6", &[(BankAccount, "12 34 56-6")]),
            (
                "IBAN SE45 5000 0000 0583 9825 7466",
                &[(BankAccount, "SE45 5000 0000 0583 9825 7466")],
            ),
            (
                "till SE4550000000058398257466 tack",
                &[(BankAccount, "SE4550000000058398257466")],
            ),
            (
                "GB82 WEST 1234 5698 7654 32",
                &[(BankAccount, "GB82 WEST 1234 5698 7654 32")],
            ),
            (
                "konto 1234-5678901, ring +46 70 123 45 67",
                &[(BankAccount, "1234-5678901"), (Phone, "+46 70 123 45 67")],
            ),
            ("1234-5678901", &[]),
            ("Kontoret ligger på Storgatan 5, 452 30 Strömstad", &[]),
            ("Mitt konto låstes 2025-03-14", &[]),
            ("Från mitt konto drogs 125 000 kr", &[]),
            ("SE45 5000 0000 0583 9825 7467", &[]),
            ("Bankgiro 5050-1056", &[]),
            ("Jag betalade till ert bankgiro 2024-2025", &[]),
            ("kontonummer 1234-5678901234567890", &[]),
        ]);
    }

    #[test]
    fn card_numbers_must_pass_luhn_and_not_follow_a_reference_label() {
        check_table(&[
            (
                "4111 1111 1111 1111",
                &[(CardNumber, "4111 1111 1111 1111")],
            ),
            (
                "kort 4111-1111-1111-1111",
                &[(CardNumber, "4111-1111-1111-1111")],
            ),
            ("4111111111111111", &[(CardNumber, "4111111111111111")]),
            (
                "Mastercard 5555 5555 5555 4444.",
                &[(CardNumber, "5555 5555 5555 4444")],
            ),
            (
                "Amex 3782 822463 10005",
                &[(CardNumber, "3782 822463 10005")],
            ),
            (
                "Pengarna från konto 1234-5678901 drogs från kort 4111 1111 1111 1111",
                &[
                    (BankAccount, "1234-5678901"),
                    (CardNumber, "4111 1111 1111 1111"),
                ],
            ),
            ("4111 1111 1111 1112", &[]),
            ("OCR 4111111111111111", &[]),
            (
                "OCR 1234567 och kortet 4111 1111 1111 1111",
                &[(CardNumber, "4111 1111 1111 1111")],
            ),
            ("1234 5678 9012 3456", &[]),
            ("41111111111111111111", &[]),
            ("4111 1111 1111 1111 1111 1111", &[]),
        ]);
    }

    #[test]
    fn names_stated_in_finds_the_writers_own_name_after_intros_and_sign_offs() {
        let rows: &[(&str, &[&str])] = &[
            (
                "Jag heter Anna Svensson och bor i Skee.",
                &["Anna Svensson"],
            ),
            ("Mvh Anna Svensson", &["Anna Svensson"]),
            (
                "Med vänliga hälsningar\nAnna Svensson\nStorgatan 1",
                &["Anna Svensson"],
            ),
            ("Hälsningar, Anna", &["Anna"]),
            ("My name is John Smith.", &["John Smith"]),
            ("Regards,\nJohn Smith", &["John Smith"]),
            ("Kind regards John", &["John"]),
            ("Tack på förhand, Anna-Karin Öberg", &["Anna-Karin Öberg"]),
            ("Tack!\nErik", &["Erik"]),
            ("/Erik", &["Erik"]),
            ("Namn: Fatima Hussein", &["Fatima Hussein"]),
            ("MVH\n\nOLLE", &["OLLE"]),
            ("Mvh Familjen Svensson", &["Svensson"]),
            ("Best regards,\nDr. John Smith", &["John Smith"]),
            (
                "Från: Anna Svensson <anna.svensson@gmail.com>\nSkickat: den 14 mars",
                &["Anna Svensson"],
            ),
            ("Från: Kontaktcenter <kontaktcenter@kommun.se>", &[]),
            ("Skickat från min iPhone", &[]),
            ("Mvh\nKommunen", &[]),
            ("Mvh\nkommunen", &[]),
            ("Tack! Jag återkommer.", &[]),
            ("Tack! Ärendet gäller parkering.", &[]),
            (
                "Med vänliga hälsningar\nKontaktcenter\nStrömstads kommun",
                &[],
            ),
            ("Mvh Barn- och utbildningsförvaltningen", &[]),
            ("Mvh Strömstads kommun", &[]),
            ("Mvh\nSocialtjänsten", &[]),
            ("Hälsningar\nTeam Vatten", &[]),
            ("Thanks,\nSent from my iPhone", &[]),
            ("Hälsningar från Strömstad", &[]),
            ("Mvh\nStorgatan 12", &[]),
            ("och/eller Anna", &[]),
        ];
        let mut failures = Vec::new();
        for (text, expected) in rows {
            let got = names_stated_in(text);
            if got != expected.iter().map(|s| s.to_string()).collect::<Vec<_>>() {
                failures.push(format!("{text:?}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn known_names_match_whole_words_and_their_parts() {
        let text = "Jag pratade med Svensson igår. Anna Svensson ringer, svensson och Svenssons.";
        assert_eq!(
            found_with(text, &["Anna Svensson"]),
            vec![(Name, "Svensson"), (Name, "Anna Svensson")]
        );
        assert_eq!(
            found_with("Bo Ek och Ek och Bo", &["Bo Ek"]),
            vec![(Name, "Bo Ek")]
        );
        assert_eq!(
            found_with(
                "Svensson, Anna ringde. Anna Svensson igen.",
                &["Svensson, Anna"]
            ),
            vec![(Name, "Svensson"), (Name, "Anna"), (Name, "Anna Svensson")]
        );
        assert_eq!(
            found_with("Kontaktcenter svarar", &["Kontaktcenter"]),
            vec![]
        );
    }

    #[test]
    fn stated_names_are_redacted_everywhere_in_the_text() {
        let text = "Anna här igen. Familjen Svensson väntar.\nMvh Anna Svensson";
        assert_eq!(
            found(text),
            vec![(Name, "Anna"), (Name, "Svensson"), (Name, "Anna Svensson")]
        );
    }

    #[test]
    fn redact_replaces_every_item_with_its_placeholder() {
        let text = "Hej!\nJag heter Anna Svensson, personnummer 19121212-1212, samordningsnummer \
                    701063-2391. Ring 070-123 45 67 eller mejla anna.svensson@gmail.com. \
                    Kontonummer 8327-9, 123 456 789-0, kort 4111 1111 1111 1111. \
                    Ärende KC-2026-000123 från 2025-03-14 kl 10:30, 1 250 kr, 452 30 Strömstad.\n\
                    Mvh\nAnna";
        let out = redact(text, &["Anna Svensson"]);
        for placeholder in [
            "[personnummer]",
            "[samordningsnummer]",
            "[telefon]",
            "[e-post]",
            "[kontonummer]",
            "[kortnummer]",
            "[namn]",
        ] {
            assert!(out.contains(placeholder), "{placeholder} missing in {out}");
        }
        for original in [
            "Anna",
            "Svensson",
            "19121212-1212",
            "701063-2391",
            "070-123 45 67",
            "anna.svensson@gmail.com",
            "8327-9",
            "123 456 789-0",
            "4111 1111 1111 1111",
        ] {
            assert!(!out.contains(original), "{original} left in {out}");
        }
        for kept in [
            "KC-2026-000123",
            "2025-03-14",
            "10:30",
            "1 250 kr",
            "452 30 Strömstad",
        ] {
            assert!(out.contains(kept), "{kept} lost in {out}");
        }
    }

    #[test]
    fn redact_leaves_text_without_personal_data_unchanged() {
        let text = "Hej! När töms soptunnorna på Björkvägen? Öppet 08.00-17.00, 2025-03-14.";
        assert_eq!(redact(text, &[]), text);
        assert_eq!(redact("", &["Anna"]), "");
    }

    #[test]
    fn placeholders_and_ids_are_stable() {
        let ids: Vec<&str> = PersonalDataKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            ids,
            [
                "personnummer",
                "samordningsnummer",
                "phone",
                "email",
                "bank_account",
                "card_number",
                "name"
            ]
        );
        assert_eq!(Phone.placeholder(), "[telefon]");
        assert_eq!(BankAccount.placeholder(), "[kontonummer]");
    }

    fn assert_well_formed(text: &str, findings: &[Finding]) {
        let mut previous_end = 0;
        for f in findings {
            assert!(f.range.start < f.range.end, "{text:?}: empty {f:?}");
            assert!(f.range.start >= previous_end, "{text:?}: overlap at {f:?}");
            assert!(f.range.end <= text.len(), "{text:?}: out of range {f:?}");
            assert!(
                text.is_char_boundary(f.range.start) && text.is_char_boundary(f.range.end),
                "{text:?}: not on char boundary {f:?}"
            );
            previous_end = f.range.end;
        }
    }

    #[test]
    fn random_input_never_panics_and_ranges_are_well_formed() {
        const PIECES: &[&str] = &[
            "0",
            "1",
            "7",
            "9",
            "46",
            "00",
            "+",
            "-",
            "–",
            " ",
            "  ",
            "\n",
            "\r\n",
            "@",
            ".",
            ",",
            ":",
            "/",
            "(",
            ")",
            "(0)",
            "se",
            "com",
            "Mvh",
            "mvh",
            "Anna",
            "Svensson",
            "Tack",
            "!",
            "å",
            "Ö",
            "ä",
            "€",
            "😀",
            "\u{a0}",
            "\u{200b}",
            "İ",
            "ß",
            "SE45",
            "GB82",
            "19121212",
            "1212",
            "121212",
            "konto",
            "bankgiro",
            "kort",
            "OCR",
            "Jag heter",
            "Namn:",
            "/",
            "Familjen",
            "-",
            "kr",
            "é",
            "日本",
            "\t",
            "'",
            "_",
            "%",
        ];
        let mut rng = Rng::new(7);
        for round in 0..20_000 {
            let len = 1 + rng.below(40);
            let text: String = (0..len).map(|_| rng.pick(PIECES)).collect();
            let findings = find_personal_data(&text, &["Anna Svensson", "", "İ", "-"]);
            assert_well_formed(&text, &findings);
            let redacted = redact(&text, &["Anna"]);
            assert!(!redacted.is_empty(), "round {round}: {text:?}");
            let _ = names_stated_in(&text);
        }
    }

    #[test]
    fn large_inputs_are_scanned_in_linear_time() {
        let mut rng = Rng::new(11);
        let random_mail: String = generated_snippets(400, 3)
            .into_iter()
            .map(|(text, _)| text)
            .collect::<Vec<_>>()
            .join("\n\n");
        let inputs = [
            "0".repeat(100_000),
            "1 ".repeat(50_000),
            "07 ".repeat(33_000),
            "a@".repeat(50_000),
            format!("x@{}", "a".repeat(100_000)),
            format!("{}@x.se", "a.".repeat(50_000)),
            "Mvh Anna ".repeat(11_000),
            "konto 1 ".repeat(12_500),
            "070-123 45 67 ".repeat(7_000),
            "SE45 ".repeat(20_000),
            " ".repeat(100_000),
            "Tack, Anna".to_string() + &"!".repeat(100_000),
            (0..20_000)
                .map(|_| rng.pick(&["1", "-", " ", "0", "+"]))
                .collect(),
            random_mail,
        ];
        let started = std::time::Instant::now();
        for input in &inputs {
            let one = std::time::Instant::now();
            let findings = find_personal_data(input, &["Anna Svensson"]);
            assert_well_formed(input, &findings);
            let elapsed = one.elapsed();
            assert!(
                elapsed.as_secs_f64() < 5.0,
                "{} bytes took {elapsed:?}",
                input.len()
            );
        }
        println!(
            "scanned {} inputs ({} bytes) in {:?}",
            inputs.len(),
            inputs.iter().map(String::len).sum::<usize>(),
            started.elapsed()
        );
    }

    // -----------------------------------------------------------------------------------------
    // Generated set

    /// A small xorshift64* generator, so the generated set is the same on every machine.
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            // one splitmix64 step spreads the seed; xorshift needs a non-zero state
            let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            Rng((z ^ (z >> 31)).max(1))
        }

        fn next_u64(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        fn range(&mut self, low: usize, high: usize) -> usize {
            low + self.below(high - low + 1)
        }

        fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }

        fn digits(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.below(10) as u8).collect()
        }
    }

    fn to_text(digits: &[u8]) -> String {
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    fn with_luhn(mut payload: Vec<u8>) -> Vec<u8> {
        let check = (0..10u8)
            .find(|&d| {
                let mut candidate = payload.clone();
                candidate.push(d);
                luhn_valid(&candidate)
            })
            .expect("some digit completes luhn");
        payload.push(check);
        payload
    }

    /// Splits `digits` into groups of the given sizes, joined by `sep`.
    fn grouped(digits: &str, sizes: &[usize], sep: &str) -> String {
        let mut out = String::new();
        let mut at = 0;
        for (k, size) in sizes.iter().enumerate() {
            if k > 0 {
                out.push_str(sep);
            }
            out.push_str(&digits[at..at + size]);
            at += size;
        }
        if at < digits.len() {
            if at > 0 {
                out.push_str(sep);
            }
            out.push_str(&digits[at..]);
        }
        out
    }

    fn identity_number(rng: &mut Rng, samordning: bool) -> String {
        let year = rng.range(1915, 2019);
        let month = rng.range(1, 12);
        let last_day = if month == 2 {
            28
        } else {
            days_in_month(month as u32) as usize
        };
        let day = rng.range(1, last_day) + if samordning { 60 } else { 0 };
        let payload = format!("{:02}{month:02}{day:02}{:03}", year % 100, rng.below(1000));
        let ten = to_text(&with_luhn(digit_values(payload.as_bytes())));
        let (short, serial) = ten.split_at(6);
        let century = year / 100;
        match rng.below(7) {
            0 | 1 => {
                let sep = if year < 1926 { "+" } else { "-" };
                format!("{short}{sep}{serial}")
            }
            2 => ten,
            3 => format!("{century}{short}-{serial}"),
            4 => format!("{century}{ten}"),
            5 => format!("{short} {serial}"),
            _ => format!("{century}{short} {serial}"),
        }
    }

    fn phone_number(rng: &mut Rng) -> String {
        let mobile = format!("7{}", rng.pick(&["0", "2", "3", "6", "9"]));
        let sub = to_text(&rng.digits(7));
        let (a, b) = sub.split_at(3);
        let (b1, b2) = b.split_at(2);
        match rng.below(16) {
            0 => format!("0{mobile}-{a} {b1} {b2}"),
            1 => format!("0{mobile}{sub}"),
            2 => format!("0{mobile} {a} {b1} {b2}"),
            3 => format!("0{mobile}-{sub}"),
            4 => format!("+46 {mobile} {a} {b1} {b2}"),
            5 => format!("+46{mobile}{sub}"),
            6 => format!("0046 {mobile} {a} {b1} {b2}"),
            7 => format!("+46 (0){mobile}-{a} {b1} {b2}"),
            8 => format!("0{mobile}-{} {}", &sub[..2], grouped(&sub[2..], &[2], " ")),
            9 => {
                let s = to_text(&rng.digits(8));
                format!("08-{}", grouped(&s, &[3, 3], " "))
            }
            10 => {
                let area = rng.pick(&["031", "040", "018", "054"]);
                let s = to_text(&rng.digits(6));
                format!("{area}-{}", grouped(&s, &[2, 2], " "))
            }
            11 => {
                let area = rng.pick(&["0523", "0526", "0522", "0980"]);
                let s = to_text(&rng.digits(6));
                format!("{area}-{}", grouped(&s, &[2, 2], " "))
            }
            12 => {
                let s = to_text(&rng.digits(6));
                format!("020-{}", grouped(&s, &[2, 2], " "))
            }
            13 => format!(
                "+44 20 {} {}",
                to_text(&rng.digits(4)),
                to_text(&rng.digits(4))
            ),
            14 => format!(
                "+358 40 {} {}",
                to_text(&rng.digits(3)),
                to_text(&rng.digits(4))
            ),
            _ => format!("(08) {}", grouped(&to_text(&rng.digits(7)), &[3, 2], " ")),
        }
    }

    const FIRST_NAMES: &[&str] = &[
        "Anna",
        "Eva",
        "Maria",
        "Karin",
        "Kerstin",
        "Lena",
        "Sara",
        "Åsa",
        "Märta",
        "Ingrid",
        "Elin",
        "Ebba",
        "Erik",
        "Lars",
        "Johan",
        "Mikael",
        "Anders",
        "Björn",
        "Örjan",
        "Oskar",
        "Nils",
        "Olof",
        "Ahmed",
        "Fatima",
        "Olena",
        "Mohamed",
        "Aino",
        "Yusuf",
        "Leila",
        "Anna-Karin",
        "Jan-Erik",
        "John",
        "Sarah",
        "Emily",
        "James",
        "Oliver",
        "Charlotte",
        "Daniel",
        "Bo",
    ];
    const LAST_NAMES: &[&str] = &[
        "Svensson",
        "Andersson",
        "Johansson",
        "Karlsson",
        "Nilsson",
        "Eriksson",
        "Larsson",
        "Olsson",
        "Persson",
        "Lindqvist",
        "Öberg",
        "Åkesson",
        "Bäckström",
        "Hussein",
        "Kowalski",
        "Shevchenko",
        "Virtanen",
        "Smith",
        "Jones",
        "Taylor",
        "Williams",
        "Lindgren",
        "Holm",
        "Ek",
        "Ali",
    ];

    fn email_address(rng: &mut Rng, first: &str, last: &str) -> String {
        let first = lowercase(first).replace('-', "");
        let last = lowercase(last);
        let local = match rng.below(6) {
            0 => format!("{first}.{last}"),
            1 => {
                let initial = first.chars().next().unwrap_or('x');
                format!("{initial}.{last}{}", rng.range(50, 99))
            }
            2 => format!("{first}_{last}"),
            3 => format!("{first}{}", rng.range(1, 2005)),
            4 => format!("{last}.{first}+kommun"),
            _ => format!("{first}-{last}"),
        };
        let domain = rng.pick(&[
            "gmail.com",
            "hotmail.se",
            "outlook.com",
            "telia.com",
            "bredband2.com",
            "icloud.com",
            "yahoo.co.uk",
            "live.se",
            "företag.se",
            "student.uu.se",
        ]);
        format!("{local}@{domain}")
    }

    fn iban(rng: &mut Rng) -> String {
        let (country, bban) = match rng.below(5) {
            0 | 1 => ("SE", to_text(&rng.digits(20))),
            2 => ("DE", to_text(&rng.digits(18))),
            3 => ("NO", to_text(&rng.digits(11))),
            _ => ("GB", format!("WEST{}", to_text(&rng.digits(14)))),
        };
        let probe: Vec<u8> = format!("{bban}{country}00").into_bytes();
        let mut rem = 0u32;
        for c in probe {
            rem = if c.is_ascii_digit() {
                (rem * 10 + u32::from(c - b'0')) % 97
            } else {
                (rem * 100 + u32::from(c - b'A') + 10) % 97
            };
        }
        let compact = format!("{country}{:02}{bban}", 98 - rem);
        if rng.chance(30) {
            compact
        } else {
            let sizes = vec![4; compact.len() / 4];
            grouped(
                &compact,
                &sizes[..sizes.len().min((compact.len() - 1) / 4)],
                " ",
            )
        }
    }

    fn bank_number(rng: &mut Rng) -> (String, &'static str) {
        let clearing = rng.range(1100, 9969).to_string();
        match rng.below(7) {
            0 => {
                let clearing = format!("8{}", to_text(&rng.digits(3)));
                let account = to_text(&rng.digits(10));
                (
                    format!(
                        "{clearing}-{}, {}-{}",
                        rng.below(10),
                        grouped(&account[..9], &[3, 3], " "),
                        &account[9..]
                    ),
                    "account",
                )
            }
            1 => (format!("{clearing}-{}", to_text(&rng.digits(7))), "account"),
            2 => (
                format!(
                    "{clearing} {} {}",
                    to_text(&rng.digits(2)),
                    to_text(&rng.digits(5))
                ),
                "account",
            ),
            3 => (
                format!("6{}-{}", to_text(&rng.digits(3)), to_text(&rng.digits(9))),
                "account",
            ),
            4 => {
                let len = rng.range(7, 8);
                let mut payload = vec![rng.range(1, 9) as u8];
                payload.extend(rng.digits(len - 2));
                let number = to_text(&with_luhn(payload));
                let (a, b) = number.split_at(len - 4);
                (format!("{a}-{b}"), "bankgiro")
            }
            5 => {
                let len = rng.range(6, 8);
                let mut payload = vec![rng.range(1, 9) as u8];
                payload.extend(rng.digits(len - 2));
                let number = to_text(&with_luhn(payload));
                let head = &number[..len - 1];
                let sizes: &[usize] = match len {
                    6 => &[1, 2],
                    7 => &[2, 2],
                    _ => &[3, 2],
                };
                (
                    format!("{}-{}", grouped(head, sizes, " "), &number[len - 1..]),
                    "plusgiro",
                )
            }
            _ => (iban(rng), "iban"),
        }
    }

    fn card_number(rng: &mut Rng) -> String {
        let (prefix, len) = match rng.below(4) {
            0 | 1 => ("4".to_string(), 16),
            2 => (format!("5{}", rng.range(1, 5)), 16),
            _ => (format!("3{}", rng.pick(&["4", "7"])), 15),
        };
        let mut payload = digit_values(prefix.as_bytes());
        payload.extend(rng.digits(len - 1 - payload.len()));
        let number = to_text(&with_luhn(payload));
        if len == 15 {
            return match rng.below(2) {
                0 => grouped(&number, &[4, 6], " "),
                _ => number,
            };
        }
        match rng.below(3) {
            0 => grouped(&number, &[4, 4, 4], " "),
            1 => grouped(&number, &[4, 4, 4], "-"),
            _ => number,
        }
    }

    fn date(rng: &mut Rng) -> String {
        format!(
            "{}-{:02}-{:02}",
            rng.range(2019, 2026),
            rng.range(1, 12),
            rng.range(1, 28)
        )
    }

    fn amount(rng: &mut Rng) -> String {
        match rng.below(4) {
            0 => format!("{} kr", rng.range(50, 999)),
            1 => format!("{} {:03} kr", rng.range(1, 99), rng.below(1000)),
            2 => format!("{} {:03}:-", rng.range(1, 999), rng.below(1000)),
            _ => format!("{} SEK", rng.range(100, 99_999)),
        }
    }

    fn postcode(rng: &mut Rng) -> String {
        format!(
            "{}{:02} {:02} {}",
            rng.range(1, 9),
            rng.below(100),
            rng.below(100),
            rng.pick(&["Strömstad", "Stockholm", "Göteborg", "Uddevalla", "Skee"])
        )
    }

    fn street(rng: &mut Rng) -> String {
        format!(
            "{} {}{}",
            rng.pick(&[
                "Storgatan",
                "Kungsgatan",
                "Björkvägen",
                "Skolgatan",
                "Hamngatan"
            ]),
            rng.range(1, 120),
            rng.pick(&["", "", "B", " lgh 1102"])
        )
    }

    /// A 10-digit number shaped like a personnummer whose check digit is wrong.
    fn failing_luhn_number(rng: &mut Rng, nonzero_start: bool) -> String {
        loop {
            let year = if nonzero_start {
                rng.range(10, 99)
            } else {
                rng.below(100)
            };
            let payload = format!(
                "{year:02}{:02}{:02}{:04}",
                rng.range(1, 12),
                rng.range(1, 28),
                rng.below(10_000)
            );
            if !luhn_valid(&digit_values(payload.as_bytes())) {
                return payload;
            }
        }
    }

    fn confuser(rng: &mut Rng) -> String {
        match rng.below(26) {
            0 => format!(
                "Mötet är bokat till {} kl {:02}:30.",
                date(rng),
                rng.range(8, 16)
            ),
            1 => format!("Fakturan på {} förföll {}.", amount(rng), date(rng)),
            2 => format!(
                "Ärendenummer KC-{}-{:06}.",
                rng.range(2024, 2026),
                rng.below(1_000_000)
            ),
            3 => {
                let len = rng.range(7, 10);
                format!(
                    "Jag har fått faktura nummer {} på {}.",
                    to_text(&rng.digits(len)),
                    amount(rng)
                )
            }
            4 => format!("Ordernummer {}", failing_luhn_number(rng, false)),
            5 => format!("Referens: {}", failing_luhn_number(rng, false)),
            6 => {
                let len = rng.range(13, 16);
                let mut payload = vec![rng.range(2, 6) as u8];
                payload.extend(rng.digits(len - 2));
                format!("OCR: {}", to_text(&with_luhn(payload)))
            }
            7 => format!("Adress: {}, {}.", street(rng), postcode(rng)),
            8 => format!(
                "Öppettider {:02}.00-{}.00, lunchstängt 12-13.",
                rng.range(7, 9),
                rng.range(15, 18)
            ),
            9 => format!(
                "Mellan {}-{} har det varit så här.",
                rng.range(2010, 2019),
                rng.range(2020, 2026)
            ),
            10 => format!("Det kostar {} per år.", amount(rng)),
            11 => format!("Dnr BOU {}/{:04}", rng.range(2020, 2026), rng.below(10_000)),
            12 => "Ring 112 vid nödsituation, 1177 för sjukvårdsråd och 114 14 till Polisen."
                .to_string(),
            13 => format!(
                "Mitt konto på e-tjänsten har varit låst sedan {}.",
                date(rng)
            ),
            14 => format!(
                "Kontoret på {}, {}, har öppet {}-16.",
                street(rng),
                postcode(rng),
                rng.range(8, 10)
            ),
            15 => format!(
                "Jag betalade {} till ert bankgiro {}.",
                amount(rng),
                date(rng)
            ),
            16 => format!(
                "Swish till föreningen: 123 {} {} {}",
                to_text(&rng.digits(3)),
                to_text(&rng.digits(2)),
                to_text(&rng.digits(2))
            ),
            17 => format!("Kundnummer 00{}", to_text(&rng.digits(8))),
            18 => format!("Fakturanummer 0{}", to_text(&rng.digits(9))),
            19 => format!("Numret på lappen var {}.", failing_luhn_number(rng, true)),
            20 => format!(
                "Ansökan skickades in {:02}/{:02}/{} och beslut kom {}.",
                rng.range(1, 28),
                rng.range(1, 12),
                rng.range(2019, 2026),
                date(rng)
            ),
            21 => format!(
                "Invoice {}-{:04} of £{} is still unpaid.",
                rng.range(2020, 2026),
                rng.below(10_000),
                rng.range(10, 999)
            ),
            22 => format!("Order number {} never arrived.", to_text(&rng.digits(10))),
            23 => format!("Vi bor på {} sedan {}.", street(rng), rng.range(1990, 2025)),
            24 => format!(
                "Det drogs {} från mitt konto {} utan förklaring.",
                amount(rng),
                date(rng)
            ),
            _ => format!(
                "Temperaturen var -{} grader och bussen kom {:02}:{:02}.",
                rng.range(1, 25),
                rng.range(5, 23),
                rng.below(60)
            ),
        }
    }

    const SWEDISH_FILLERS: &[&str] = &[
        "Jag undrar när sophämtningen kommer till Björkvägen.",
        "Snöröjningen har inte varit här sedan i tisdags.",
        "Gatubelysningen på Kungsgatan är trasig igen.",
        "Kan ni hjälpa mig med ansökan om bygglov för en attefallsstuga?",
        "Min dotter ska börja förskoleklass i höst och vi vill ansöka om skolskjuts.",
        "Vattnet har varit brunt hela morgonen.",
        "Jag vill lämna en synpunkt på parkeringen vid Torget.",
        "Biblioteket i Skee har ändrade öppettider, stämmer det?",
        "Jag har fått en påminnelse men har redan betalat.",
        "Hemtjänsten kom inte i går och mamma väntade hela dagen.",
        "Var kan jag hitta protokollet från kommunfullmäktige?",
        "Det luktar avlopp vid lekplatsen i Strömstad.",
        "Tack för snabbt svar förra gången!",
        "Hur ansöker man om sommarjobb hos kommunen?",
        "Återvinningscentralen var stängd trots att webben sa öppet.",
    ];

    const ENGLISH_FILLERS: &[&str] = &[
        "I would like to know when the recycling centre opens.",
        "The street light outside our house is broken.",
        "We are moving to Strömstad and need a school place for our son.",
        "Could you please send me the decision about the building permit?",
        "The bus stop on Kungsgatan has been damaged.",
        "Is the public pool open during the holidays?",
        "I never received an answer to my previous email.",
        "My mother needs help at home after her surgery.",
    ];

    /// Builds one snippet and remembers where each item of personal data is.
    #[derive(Default)]
    struct Snippet {
        text: String,
        truth: Vec<Finding>,
    }

    impl Snippet {
        fn plain(&mut self, s: &str) {
            self.text.push_str(s);
        }

        fn item(&mut self, kind: PersonalDataKind, s: &str) {
            let start = self.text.len();
            self.text.push_str(s);
            self.truth.push(Finding {
                kind,
                range: start..self.text.len(),
            });
        }

        /// Appends `template` with `{}` replaced by `value`, recorded as `kind`.
        fn fill(&mut self, template: &str, kind: PersonalDataKind, value: &str) {
            let (before, after) = template.split_once("{}").expect("template has {}");
            self.plain(before);
            self.item(kind, value);
            self.plain(after);
        }

        fn break_line(&mut self, rng: &mut Rng) {
            let sep = rng.pick(&[" ", " ", "\n", "\n\n"]);
            self.plain(sep);
        }
    }

    fn personal_sentence(rng: &mut Rng, snippet: &mut Snippet, swedish: bool, person: &Person) {
        match rng.below(6) {
            0 => {
                let samordning = rng.chance(20);
                let number = identity_number(rng, samordning);
                let (kind, templates): (_, &[&str]) = match (samordning, swedish) {
                    (true, true) => (
                        Samordningsnummer,
                        &[
                            "Mitt samordningsnummer är {}.",
                            "Samordningsnummer: {}",
                            "Jag har samordningsnummer {} och väntar på personnummer.",
                        ],
                    ),
                    (true, false) => (
                        Samordningsnummer,
                        &["My coordination number is {}.", "Samordningsnummer: {}"],
                    ),
                    (false, true) => (
                        Personnummer,
                        &[
                            "Mitt personnummer är {}.",
                            "Personnummer: {}",
                            "Pnr {}",
                            "Min son har personnummer {} och går i årskurs 4.",
                            "Det gäller min mamma, {}, som bor på särskilt boende.",
                            "Jag skickar med personnumret {} så att ni hittar ärendet.",
                            "Barnets personnummer: {}",
                            "Ang. {} – ansökan om bygglov.",
                            "{} är min dotters personnummer.",
                        ],
                    ),
                    (false, false) => (
                        Personnummer,
                        &[
                            "My personal identity number is {}.",
                            "Personnummer: {}",
                            "Regarding {}, my Swedish personnummer.",
                        ],
                    ),
                };
                let template = rng.pick(templates);
                snippet.fill(template, kind, &number);
            }
            1 => {
                let number = phone_number(rng);
                let templates: &[&str] = if swedish {
                    &[
                        "Ring mig gärna på {}.",
                        "Mitt telefonnummer är {}.",
                        "Tel: {}",
                        "Mobil: {}",
                        "Ni når mig på {} efter kl 16.",
                        "Nummer: {}",
                        "Kontakta mig på {} eller via mejl.",
                    ]
                } else {
                    &[
                        "Please call me on {}.",
                        "You can reach me at {}.",
                        "Phone: {}",
                    ]
                };
                let template = rng.pick(templates);
                snippet.fill(template, Phone, &number);
            }
            2 => {
                let address = email_address(rng, person.first, person.last);
                let templates: &[&str] = if swedish {
                    &[
                        "Svara gärna till {}.",
                        "Min e-post är {}",
                        "E-post: {}",
                        "Skicka beslutet till {} tack.",
                        "Min nya adress är {}, den gamla fungerar inte.",
                        "Mejla mig ({}) när ni vet mer.",
                    ]
                } else {
                    &[
                        "Please reply to {}.",
                        "Email: <{}>",
                        "My address is {} now.",
                    ]
                };
                let template = rng.pick(templates);
                snippet.fill(template, Email, &address);
            }
            3 => {
                let (number, form) = bank_number(rng);
                let templates: &[&str] = match (form, swedish) {
                    ("bankgiro", _) => &["Bankgiro: {}", "Vårt bankgiro är {}.", "BG {}"],
                    ("plusgiro", _) => &["Plusgiro {}", "Pengarna kan sättas in på plusgiro {}."],
                    ("iban", true) => &["IBAN: {}", "Utbetalning till {} tack.", "Mitt konto: {}"],
                    ("iban", false) => &["IBAN: {}", "Please pay to {} instead."],
                    (_, true) => &[
                        "Kontonummer: {}",
                        "Pengarna kan sättas in på mitt konto {}.",
                        "Mitt bankkonto är {} (Swedbank).",
                        "Clearingnummer och kontonummer: {}",
                    ],
                    (_, false) => &["My account number is {}.", "Bank account: {}"],
                };
                let template = rng.pick(templates);
                snippet.fill(template, BankAccount, &number);
            }
            4 => {
                let number = card_number(rng);
                let templates: &[&str] = if swedish {
                    &[
                        "Jag betalade med kortet {} men dragningen blev dubbel.",
                        "Kortnummer: {}",
                        "Dragningen på {} syns två gånger.",
                    ]
                } else {
                    &["My card number is {}.", "The charge on {} appears twice."]
                };
                let template = rng.pick(templates);
                snippet.fill(template, CardNumber, &number);
            }
            _ => {
                let text = confuser(rng);
                snippet.plain(&text);
            }
        }
    }

    struct Person {
        first: &'static str,
        last: &'static str,
    }

    const SIGN_OFFS_WITH_NAME: &[&str] = &[
        "Mvh {}",
        "Mvh\n{}",
        "MVH {}",
        "Med vänliga hälsningar\n{}",
        "Med vänlig hälsning\n\n{}",
        "Vänliga hälsningar,\n{}",
        "Hälsningar, {}",
        "Hälsningar\n{}",
        "Tack på förhand!\n{}",
        "Tack på förhand, {}",
        "Kind regards,\n{}",
        "Kind regards {}",
        "Best regards,\n{}",
        "Regards,\n{}",
        "Thanks,\n{}",
        "/{}",
    ];

    const SIGN_OFFS_WITHOUT_NAME: &[&str] = &[
        "Mvh",
        "Med vänliga hälsningar",
        "Tack!",
        "Mvh\nKommunen",
        "Med vänliga hälsningar\nKontaktcenter\nStrömstads kommun",
        "Hälsningar från oss i Team Vatten",
        "Hälsningar\nTeam Vatten",
        "Mvh Barn- och utbildningsförvaltningen",
        "Mvh\nSocialtjänsten",
        "Tack! Jag hör av mig igen.",
        "Thanks!\nSent from my iPhone",
        "Skickat från min iPhone",
        "Mvh familjen",
        "Kind regards\nThe Baker family",
    ];

    fn generate_snippet(rng: &mut Rng) -> (String, Vec<Finding>) {
        let swedish = rng.chance(75);
        let person = Person {
            first: rng.pick(FIRST_NAMES),
            last: rng.pick(LAST_NAMES),
        };
        let full = format!("{} {}", person.first, person.last);
        let mut s = Snippet::default();

        let greeting = if swedish {
            rng.pick(&[
                "Hej!",
                "Hej,",
                "Hej Kontaktcenter!",
                "Hejsan,",
                "Hej kommunen,",
                "God morgon,",
                "",
            ])
        } else {
            rng.pick(&["Hello,", "Hi,", "Dear Sir or Madam,", "Good morning,", ""])
        };
        s.plain(greeting);
        if !greeting.is_empty() {
            s.plain("\n");
        }

        // The name is only personal data the detector can know when the mail states it.
        let intro = rng.chance(15);
        let sign_off_name = rng.chance(55);
        let stated_full = intro || (sign_off_name && rng.chance(60));
        if intro {
            let template = if swedish {
                rng.pick(&[
                    "Jag heter {} och bor i Skee.",
                    "Jag heter {}.",
                    "Mitt namn är {} och jag skriver angående skolskjuts.",
                ])
            } else {
                "My name is {} and I live in Strömstad."
            };
            s.fill(template, Name, &full);
            s.break_line(rng);
        }

        let parts = rng.range(1, 3);
        for k in 0..parts {
            if k > 0 {
                s.break_line(rng);
            }
            if rng.chance(35) {
                let filler = rng.pick(if swedish {
                    SWEDISH_FILLERS
                } else {
                    ENGLISH_FILLERS
                });
                s.plain(filler);
            } else {
                personal_sentence(rng, &mut s, swedish, &person);
            }
        }
        if stated_full && person.last.chars().count() >= 3 && rng.chance(25) {
            s.break_line(rng);
            s.fill("Familjen {} har samma problem.", Name, person.last);
        }

        s.plain("\n\n");
        if sign_off_name {
            let name = if stated_full || rng.chance(50) {
                full.clone()
            } else {
                person.first.to_string()
            };
            let template = rng.pick(SIGN_OFFS_WITH_NAME);
            s.fill(template, Name, &name);
        } else if rng.chance(70) {
            let sign_off = rng.pick(SIGN_OFFS_WITHOUT_NAME);
            s.plain(sign_off);
        }

        if rng.chance(30) {
            s.plain("\n");
            match rng.below(3) {
                0 => {
                    let number = phone_number(rng);
                    let template = rng.pick(&["Tel: {}", "Mobil {}", "{}", "Telefon: {}"]);
                    s.fill(template, Phone, &number);
                }
                1 => {
                    let address = email_address(rng, person.first, person.last);
                    s.item(Email, &address);
                }
                _ => {
                    let address = format!("{}\n{}", street(rng), postcode(rng));
                    s.plain(&address);
                }
            }
        }
        (s.text, s.truth)
    }

    /// `n` citizen-mail snippets with the personal data in each, the same for the same seed.
    pub(crate) fn generated_snippets(n: usize, seed: u64) -> Vec<(String, Vec<Finding>)> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| generate_snippet(&mut rng)).collect()
    }

    #[test]
    fn generated_snippets_are_deterministic_and_truth_is_well_formed() {
        let a = generated_snippets(200, 42);
        let b = generated_snippets(200, 42);
        assert_eq!(a, b);
        for (text, truth) in &a {
            assert_well_formed(text, truth);
        }
    }

    #[test]
    fn generated_set_precision_and_recall() {
        const SNIPPETS: usize = 3_000;
        let set = generated_snippets(SNIPPETS, 0x00B2_EDD0_0A11);
        let mut counts: HashMap<PersonalDataKind, (usize, usize, usize)> = HashMap::new();
        let mut examples: Vec<String> = Vec::new();
        for (text, truth) in &set {
            let found = find_personal_data(text, &[]);
            for f in &found {
                let entry = counts.entry(f.kind).or_default();
                if truth.contains(f) {
                    entry.0 += 1;
                } else {
                    entry.1 += 1;
                    if examples.len() < 40 {
                        examples.push(format!(
                            "false {:?} {:?} in {text:?}",
                            f.kind,
                            &text[f.range.clone()]
                        ));
                    }
                }
            }
            for t in truth {
                if !found.contains(t) {
                    counts.entry(t.kind).or_default().2 += 1;
                    if examples.len() < 40 {
                        examples.push(format!(
                            "missed {:?} {:?} in {text:?}",
                            t.kind,
                            &text[t.range.clone()]
                        ));
                    }
                }
            }
        }
        println!("generated set: {SNIPPETS} snippets");
        println!(
            "{:<18} {:>6} {:>4} {:>4} {:>9} {:>7}",
            "kind", "tp", "fp", "fn", "precision", "recall"
        );
        let mut failures = Vec::new();
        for kind in PersonalDataKind::ALL {
            let (tp, fp, missed) = counts.get(&kind).copied().unwrap_or_default();
            let precision = if tp + fp == 0 {
                1.0
            } else {
                tp as f64 / (tp + fp) as f64
            };
            let recall = if tp + missed == 0 {
                1.0
            } else {
                tp as f64 / (tp + missed) as f64
            };
            println!(
                "{:<18} {tp:>6} {fp:>4} {missed:>4} {precision:>9.4} {recall:>7.4}",
                kind.as_str()
            );
            assert!(tp > 0, "no {kind:?} in the generated set");
            if precision < 0.98 {
                failures.push(format!("{kind:?} precision {precision:.4}"));
            }
            let recall_floor = match kind {
                Personnummer | Phone | Email => 0.99,
                _ => 0.0,
            };
            if recall < recall_floor {
                failures.push(format!("{kind:?} recall {recall:.4}"));
            }
        }
        for example in &examples {
            println!("  {example}");
        }
        assert!(failures.is_empty(), "{failures:?}");
    }
}
