//! # Brevduva
//!
//! Email triage and citizen chat for a Swedish municipality's Kontaktcenter. Mail flows
//! one way, each arrow a function call on plain data, with I/O only at the ends:
//!
//! ```text
//! source (Maildir | import) -> ingest (parse, clean, loop check) -> store (dedupe, thread)
//!   -> routing (rules + knowledge index) -> triage (decide) -> outbox (compose) -> transport (file)
//! web (case list) reads the same store
//! ```
//!
//! ## Module map
//! - [`domain`]: the words of the domain: case numbers, department ids, addresses, statuses.
//! - [`config`]: the TOML configuration with environment overrides; secrets never print.
//! - [`diagnostics`]: problems in edited files, with file and line.
//! - [`defaults`]: rules, knowledge base, templates and demo mails embedded in the binary.
//! - [`source`]: where mail comes from: a Maildir, or files given to `import`.
//! - [`ingest`]: parsing, the citizen's own words, recognising automatic and bulk mail.
//! - [`routing`]: analysis, department rules, the tantivy index of past answers, the classifier.
//! - [`triage`]: the pipeline for one mail, committed in one transaction.
//! - [`store`]: SQLite or PostgreSQL: cases, messages, decisions, outbox, quarantine, audit.
//! - [`outbox`]: composing forwards and acknowledgements from templates; delivery with retries.
//! - [`web`]: the HTTP server (read-only case list for now).
//! - [`eval`]: measuring the classifier on labelled sets.
//! - [`app`]: assembling everything from the configuration; [`cli`]: the commands.

pub mod app;
pub mod campaigns;
pub mod chat;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod defaults;
mod demo;
pub mod diagnostics;
pub mod domain;
pub mod eval;
pub mod ingest;
pub mod metrics;
pub mod oauth;
pub mod outbox;
pub mod privacy;
pub mod records;
pub mod routing;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod triage;
pub mod web;
