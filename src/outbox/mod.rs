//! What Brevduva sends: composing forwards and acknowledgements from templates, and the
//! worker that delivers outbox entries through a transport with retries.

mod compose;
pub mod smtp;
mod templates;
mod transport;

pub use compose::{
    compose_acknowledgement, compose_forward, compose_reply, render_reply, sample_context,
    template_context, CaseFacts, ComposeError, ComposedMail, Original, Sender,
};
pub use templates::{RenderedText, TemplateError, Templates, REQUIRED as REQUIRED_TEMPLATES};
pub use transport::{FileTransport, Transport, TransportError};

use crate::store::{Store, StoreError};

/// Retry policy for temporary failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First delay, doubled with each attempt.
    pub base_seconds: i64,
    /// Largest delay between two attempts.
    pub max_delay_seconds: i64,
    /// Give up when the entry is older than this.
    pub max_age_seconds: i64,
}

impl RetryPolicy {
    /// When to try again after `attempts` failed attempts, or `None` to give up.
    pub fn next_attempt(&self, now: i64, created_at: i64, attempts: i64) -> Option<i64> {
        let exponent = attempts.clamp(0, 20) as u32;
        let delay = self
            .base_seconds
            .saturating_mul(1_i64 << exponent)
            .min(self.max_delay_seconds);
        let at = now + delay;
        (at - created_at <= self.max_age_seconds).then_some(at)
    }
}

/// What one pass of the outbox worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Delivered.
    pub sent: usize,
    /// Failed, to be retried.
    pub retrying: usize,
    /// Failed for good.
    pub dead: usize,
}

impl DeliveryReport {
    /// Whether the pass did anything.
    pub fn is_idle(&self) -> bool {
        self.sent + self.retrying + self.dead == 0
    }
}

/// Entries are taken (and on PostgreSQL locked) this many at a time: a few database round
/// trips per batch, and after a crash at most this many are sent again (under the same
/// Message-ID, so recognisably).
const TAKE_AT_ONCE: i64 = 10;

/// One step of the outbox worker: delivers up to `batch` due entries, a few at a time.
pub async fn deliver_due(
    store: &Store,
    transport: &Transport,
    policy: RetryPolicy,
    batch: i64,
) -> Result<DeliveryReport, StoreError> {
    let now = crate::store::now();
    let mut report = DeliveryReport::default();
    let mut left = batch;
    while left > 0 {
        let mut due = store.take_due_outbox(now, left.min(TAKE_AT_ONCE)).await?;
        if due.entries.is_empty() {
            break;
        }
        left -= due.entries.len() as i64;
        let mut sent = Vec::with_capacity(due.entries.len());
        let entries = std::mem::take(&mut due.entries);
        for entry in &entries {
            match transport.send(entry).await {
                Ok(()) => {
                    sent.push(entry.id);
                    report.sent += 1;
                }
                Err(TransportError::Temporary(reason)) => {
                    let retry = policy.next_attempt(now, entry.created_at, entry.attempts + 1);
                    tracing::warn!(outbox.id = %entry.id, attempts = entry.attempts + 1, gave_up = retry.is_none(), "delivery failed temporarily");
                    due.mark_failed(entry.id, &reason, retry).await?;
                    if retry.is_some() {
                        report.retrying += 1;
                    } else {
                        report.dead += 1;
                    }
                }
                Err(TransportError::Permanent(reason)) => {
                    tracing::warn!(outbox.id = %entry.id, "delivery failed permanently");
                    due.mark_failed(entry.id, &reason, None).await?;
                    report.dead += 1;
                }
            }
        }
        due.mark_sent(&sent, crate::store::now()).await?;
        due.finish().await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop_at_the_maximum_age() {
        let p = RetryPolicy {
            base_seconds: 30,
            max_delay_seconds: 3600,
            max_age_seconds: 7200,
        };
        assert_eq!(p.next_attempt(1000, 1000, 0), Some(1030));
        assert_eq!(p.next_attempt(1000, 1000, 3), Some(1240));
        assert_eq!(p.next_attempt(1000, 1000, 30), Some(4600));
        assert_eq!(p.next_attempt(8200, 1000, 1), None);
    }
}
