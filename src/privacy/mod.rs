//! Personal data: finding and redacting it before text is shared beyond its case.

pub mod redact;

pub use redact::{find_personal_data, names_stated_in, redact, Finding, PersonalDataKind};
