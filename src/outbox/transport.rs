//! How an outbox entry leaves: the embedded default writes each message as an `.eml` file
//! into a folder; in production, SMTP ([`super::smtp`]).

use crate::store::OutboxEntry;
use std::path::{Path, PathBuf};

/// Why a delivery failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransportError {
    /// Worth trying again later (a full disk, a 4xx answer, a lost connection).
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Will never work (a 5xx answer).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// Writes messages as files: `<outbox dir>/<message-id>.eml`.
///
/// Each file is written under a temporary name and renamed into place, and its name is
/// the stable Message-ID, so a resend after a crash replaces the file instead of adding one.
#[derive(Debug, Clone)]
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// A transport writing into `dir` (created when missing).
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// The folder written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Delivers one entry.
    pub async fn send(&self, entry: &OutboxEntry) -> Result<(), TransportError> {
        let name: String = entry
            .message_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let final_path = self.dir.join(format!("{name}.eml"));
        let tmp_path = self.dir.join(format!(".{name}.tmp"));
        let write = async {
            tokio::fs::write(&tmp_path, &entry.raw).await?;
            let file = tokio::fs::File::open(&tmp_path).await?;
            file.sync_all().await?;
            tokio::fs::rename(&tmp_path, &final_path).await
        };
        write
            .await
            .map_err(|e| TransportError::Temporary(format!("writing outbox file: {e}")))
    }
}

/// The configured transport.
#[derive(Debug)]
pub enum Transport {
    /// Files in a folder.
    File(FileTransport),
    /// An SMTP server.
    Smtp(Box<super::smtp::SmtpTransport>),
}

impl Transport {
    /// Delivers one entry.
    pub async fn send(&self, entry: &OutboxEntry) -> Result<(), TransportError> {
        match self {
            Transport::File(t) => t.send(entry).await,
            Transport::Smtp(t) => t.send(entry).await,
        }
    }
}
