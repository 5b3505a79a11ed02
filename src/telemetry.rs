//! Logging with tracing: to stderr, level from `RUST_LOG` (default `info`), JSON when
//! `BREVDUVA_LOG_FORMAT=json`. Log lines carry ids and counts, never addresses, subjects
//! or text of citizens' mail.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; safe to call more than once.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tantivy=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("BREVDUVA_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
