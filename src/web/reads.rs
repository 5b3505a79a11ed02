//! The read audit: who opened which case, message view or attachment, and when. Recorded
//! by one background writer in batches (within about a second), so reading a case never
//! waits for a database write.

use crate::domain::CaseId;
use crate::store::{ReadRecord, Store};
use std::time::Duration;

/// Sends reads to the writer.
#[derive(Clone)]
pub struct ReadLog {
    tx: tokio::sync::mpsc::Sender<ReadRecord>,
}

impl ReadLog {
    /// Starts the writer on a store.
    pub fn start(store: Store) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<ReadRecord>(50_000);
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < 1000 {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                if let Err(e) = store.record_reads(&batch).await {
                    tracing::error!(error = %e, reads = batch.len(), "recording reads in the audit log failed");
                }
                batch.clear();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { tx }
    }

    /// Records that `actor` read something of a case.
    pub fn read(&self, actor: &str, action: &'static str, case: CaseId, detail: String) {
        let record = ReadRecord {
            at: crate::store::now(),
            actor: actor.to_owned(),
            action,
            case: Some(case),
            detail,
        };
        if self.tx.try_send(record).is_err() {
            tracing::error!("the read audit writer is far behind; a read was not recorded");
        }
    }
}
