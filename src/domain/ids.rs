//! Identifiers and small value types that the rest of the crate passes around.
//!
//! Each one is parsed once, at the edge, so a wrong string cannot reach the core.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Errors from parsing a domain value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    /// A department id must be lowercase ascii letters, digits and dashes.
    #[error("invalid department id {0:?}: use lowercase letters, digits and '-'")]
    DepartmentId(String),
    /// A case number looks like `KC-2026-000123`.
    #[error("invalid case number {0:?}: expected KC-YYYY-NNNNNN")]
    CaseNumber(String),
    /// An email address needs a local part and a domain.
    #[error("invalid email address")]
    EmailAddress,
}

/// Database id of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub i64);

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Database id of a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoredMessageId(pub i64);

impl fmt::Display for StoredMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Database id of an outbox entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OutboxId(pub i64);

impl fmt::Display for OutboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of a department (`bygg-miljo`), as used in rule file names and config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DepartmentId(String);

impl DepartmentId {
    /// The fallback department that handles everything nobody else does.
    pub const KONTAKTCENTER: &'static str = "kontaktcenter";

    /// Parses a department id: 1 to 64 of `a-z`, `0-9` and `-`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::DepartmentId(s.to_owned()))
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Kontaktcenter department.
    pub fn kontaktcenter() -> Self {
        Self(Self::KONTAKTCENTER.to_owned())
    }
}

impl fmt::Display for DepartmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DepartmentId {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for DepartmentId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<DepartmentId> for String {
    fn from(d: DepartmentId) -> String {
        d.0
    }
}

/// A case number a person can read and say on the phone: `KC-2026-000123`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseNumber {
    year: u16,
    serial: u32,
}

impl CaseNumber {
    /// Builds a case number from its year and serial within that year.
    pub fn new(year: u16, serial: u32) -> Self {
        Self { year, serial }
    }

    /// Parses `KC-YYYY-NNNNNN` (case-insensitive prefix).
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let err = || DomainError::CaseNumber(s.to_owned());
        let rest = s
            .get(..3)
            .filter(|p| p.eq_ignore_ascii_case("KC-"))
            .map(|_| &s[3..])
            .ok_or_else(err)?;
        let (year, serial) = rest.split_once('-').ok_or_else(err)?;
        if year.len() != 4 || serial.len() != 6 {
            return Err(err());
        }
        if !year
            .bytes()
            .chain(serial.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        Ok(Self {
            year: year.parse().map_err(|_| err())?,
            serial: serial.parse().map_err(|_| err())?,
        })
    }

    /// Finds the first case number written anywhere in a text, such as a subject
    /// line `Re: Ditt ärende KC-2026-000123`.
    pub fn find_in(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(pos) = find_ascii_ci(&bytes[from..], b"KC-") {
            let start = from + pos;
            if let Some(candidate) = text.get(start..start + 14) {
                let bounded = text[start + 14..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_ascii_digit());
                if bounded {
                    if let Ok(n) = Self::parse(candidate) {
                        return Some(n);
                    }
                }
            }
            from = start + 3;
        }
        None
    }

    /// The year the case was opened.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// The serial number within the year.
    pub fn serial(&self) -> u32 {
        self.serial
    }
}

fn find_ascii_ci(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

impl fmt::Display for CaseNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KC-{:04}-{:06}", self.year, self.serial)
    }
}

impl FromStr for CaseNumber {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for CaseNumber {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CaseNumber> for String {
    fn from(n: CaseNumber) -> String {
        n.to_string()
    }
}

/// An email address, normalised to lowercase: `namn@kommun.se`.
///
/// Its `Debug` output hides the address, so it can never reach a log by accident.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses a bare address (`local@domain`); display names and angle brackets are not accepted.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let s = s.trim();
        let (local, domain) = s.rsplit_once('@').ok_or(DomainError::EmailAddress)?;
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.len() <= 254
                && !p
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"".contains(c))
        };
        if !valid_part(local) || !valid_part(domain) || domain.contains('@') {
            return Err(DomainError::EmailAddress);
        }
        if domain.starts_with('.') || domain.ends_with('.') {
            return Err(DomainError::EmailAddress);
        }
        Ok(Self(s.to_lowercase()))
    }

    /// The address as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The part before `@`, with any `+tag` removed.
    pub fn local_base(&self) -> &str {
        let local = self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or("");
        local.split_once('+').map(|(b, _)| b).unwrap_or(local)
    }

    /// The `+tag` of a plus-address (`kontaktcenter+bygglov@` gives `bygglov`).
    pub fn plus_tag(&self) -> Option<&str> {
        let local = self.0.rsplit_once('@').map(|(l, _)| l)?;
        local
            .split_once('+')
            .map(|(_, t)| t)
            .filter(|t| !t.is_empty())
    }

    /// The same mailbox without the plus tag: `kontaktcenter@kommun.se`.
    pub fn without_plus_tag(&self) -> EmailAddress {
        EmailAddress(format!("{}@{}", self.local_base(), self.domain()))
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(<redacted>)")
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for EmailAddress {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EmailAddress> for String {
    fn from(a: EmailAddress) -> String {
        a.0
    }
}

/// A language as an ISO 639-1 code (`sv`, `en`, `uk`, `ar`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Language(String);

impl Language {
    /// Swedish, the fallback for short or unclear texts.
    pub fn swedish() -> Self {
        Self("sv".to_owned())
    }

    /// Builds a language from an ISO 639-1 code.
    pub fn from_code(code: &str) -> Self {
        Self(code.to_ascii_lowercase())
    }

    /// The ISO 639-1 code.
    pub fn code(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_number_round_trips_and_is_found_in_subjects() {
        let n = CaseNumber::new(2026, 123);
        assert_eq!(n.to_string(), "KC-2026-000123");
        assert_eq!(CaseNumber::parse("KC-2026-000123"), Ok(n));
        assert_eq!(
            CaseNumber::find_in("SV: Ärende kc-2026-000123 gäller"),
            Some(n)
        );
        assert_eq!(CaseNumber::find_in("KC-2026-0001234"), None);
        assert_eq!(
            CaseNumber::find_in("KC-26-1 and KC-2026-000007."),
            Some(CaseNumber::new(2026, 7))
        );
        assert_eq!(CaseNumber::find_in("Åäö KC-"), None);
        assert!(CaseNumber::parse("KC-2026-12").is_err());
    }

    #[test]
    fn department_ids_are_lowercase_slugs() {
        assert!(DepartmentId::parse("bygg-miljo").is_ok());
        for bad in ["", "Bygg", "bygg miljö", "a/b"] {
            assert!(DepartmentId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_addresses_parse_and_expose_plus_tags() {
        let a = EmailAddress::parse("Kontaktcenter+Bygglov@Kommun.Example").unwrap();
        assert_eq!(a.as_str(), "kontaktcenter+bygglov@kommun.example");
        assert_eq!(a.plus_tag(), Some("bygglov"));
        assert_eq!(
            a.without_plus_tag().as_str(),
            "kontaktcenter@kommun.example"
        );
        assert_eq!(format!("{a:?}"), "EmailAddress(<redacted>)");
        for bad in ["", "no-at", "@kommun.se", "a@", "a b@c.se", "a@.se"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
