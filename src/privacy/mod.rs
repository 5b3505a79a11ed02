//! Personal data: finding and redacting it before text is shared beyond its case, and
//! deciding what retention removes.

pub mod archive;
pub mod redact;
pub mod retention;

pub use redact::{find_personal_data, names_stated_in, redact, Finding, PersonalDataKind};
