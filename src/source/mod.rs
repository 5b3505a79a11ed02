//! Where mail comes from: a Maildir folder watched by `run` and `demo`, and files given to
//! `brevduva import`.

pub mod imap;
pub mod import;
mod maildir;

pub use maildir::Maildir;

use crate::triage::{Outcome, Triage, TriageError};

/// Counts of what a batch of mail became; also the JSON line that `import` prints last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IntakeReport {
    /// Files read.
    pub files: usize,
    /// Messages found.
    pub messages: usize,
    /// New cases.
    pub cases: usize,
    /// Messages added to an existing case.
    pub joined_existing: usize,
    /// Messages stored before.
    pub duplicates: usize,
    /// Messages that could not be read as mail.
    pub quarantined: usize,
}

impl IntakeReport {
    /// Counts one outcome.
    pub fn count(&mut self, outcome: &Outcome) {
        self.messages += 1;
        match outcome {
            Outcome::NewCase { .. } => self.cases += 1,
            Outcome::Joined { .. } => self.joined_existing += 1,
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Quarantined { .. } => self.quarantined += 1,
        }
    }
}

/// How many mails are recorded in one transaction when a source has many waiting.
pub const INTAKE_BATCH: usize = 100;

/// One step of the Maildir worker: processes every message waiting in `new/`, moving each
/// to `cur/` only after its batch is committed.
pub async fn process_maildir(
    triage: &Triage,
    maildir: &Maildir,
) -> Result<IntakeReport, TriageError> {
    let mut report = IntakeReport::default();
    let waiting = maildir.waiting()?;
    for paths in waiting.chunks(INTAKE_BATCH) {
        let mut read = Vec::with_capacity(paths.len());
        let mut raws = Vec::with_capacity(paths.len());
        for path in paths {
            match std::fs::read(path) {
                Ok(raw) => {
                    read.push(path);
                    raws.push(raw);
                }
                Err(e) => tracing::warn!(error = %e, "cannot read maildir message; will retry"),
            }
        }
        for outcome in triage.process_batch(raws, "maildir").await? {
            report.files += 1;
            report.count(&outcome);
        }
        for path in read {
            if let Err(e) = maildir.mark_processed(path) {
                tracing::warn!(error = %e, "cannot move processed message to cur/; it will be seen as a duplicate");
            }
        }
    }
    Ok(report)
}
