//! Counters the service keeps while it runs, for Prometheus at `/metrics`: mails by
//! outcome and the classification latency histogram. Atomic, lock-free, pure.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the classification latency buckets.
pub const LATENCY_BUCKETS: [f64; 10] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

/// What the pipeline counts.
#[derive(Default)]
pub struct TriageMetrics {
    new_cases: AtomicU64,
    joined: AtomicU64,
    duplicates: AtomicU64,
    quarantined: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_micros: AtomicU64,
}

/// A mail's outcome, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A new case.
    NewCase,
    /// Joined an existing case.
    Joined,
    /// Already stored.
    Duplicate,
    /// Unreadable, quarantined.
    Quarantined,
}

impl TriageMetrics {
    /// Counts a mail's outcome.
    pub fn mail(&self, outcome: Counted) {
        let counter = match outcome {
            Counted::NewCase => &self.new_cases,
            Counted::Joined => &self.joined,
            Counted::Duplicate => &self.duplicates,
            Counted::Quarantined => &self.quarantined,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long one classification took.
    pub fn classified(&self, seconds: f64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The counters in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP brevduva_mails_total Mails taken in, by outcome (rate() gives mails per minute).");
        let _ = writeln!(out, "# TYPE brevduva_mails_total counter");
        for (outcome, c) in [
            ("new_case", &self.new_cases),
            ("joined", &self.joined),
            ("duplicate", &self.duplicates),
            ("quarantined", &self.quarantined),
        ] {
            let _ = writeln!(
                out,
                "brevduva_mails_total{{outcome=\"{outcome}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP brevduva_classification_seconds Time to classify one mail."
        );
        let _ = writeln!(out, "# TYPE brevduva_classification_seconds histogram");
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "brevduva_classification_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "brevduva_classification_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "brevduva_classification_seconds_sum {}",
            self.latency_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "brevduva_classification_seconds_count {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_the_counters_count() {
        let m = TriageMetrics::default();
        m.classified(0.0003);
        m.classified(0.0003);
        m.classified(0.02);
        m.classified(3.0);
        m.mail(Counted::NewCase);
        m.mail(Counted::Joined);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("brevduva_classification_seconds_bucket{le=\"0.00025\"} 0\n"));
        assert!(out.contains("brevduva_classification_seconds_bucket{le=\"0.0005\"} 2\n"));
        assert!(out.contains("brevduva_classification_seconds_bucket{le=\"0.025\"} 3\n"));
        assert!(out.contains("brevduva_classification_seconds_bucket{le=\"+Inf\"} 4\n"));
        assert!(out.contains("brevduva_classification_seconds_count 4\n"));
        assert!(out.contains("brevduva_mails_total{outcome=\"new_case\"} 1\n"));
        assert!(out.contains("brevduva_mails_total{outcome=\"quarantined\"} 0\n"));
    }
}
