//! Confidence that means what it says: a monotone map from the classifier's raw score to
//! the share of decisions that were right at that score, fitted on held-out knowledge
//! entries (isotonic regression by pool-adjacent-violators).

/// A fitted map from raw score to probability of being right.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calibration {
    /// (raw score, probability) at the centre of each pooled block, raw scores ascending,
    /// probabilities non-decreasing. Empty: the raw score is used as it is.
    knots: Vec<(f64, f64)>,
    /// How many held-out decisions it was fitted on.
    fitted_on: usize,
}

/// Fewer held-out decisions than this leave the raw score as it is.
pub const MIN_CALIBRATION_POINTS: usize = 30;

impl Calibration {
    /// Fits the map on (raw score, was right) pairs.
    pub fn fit(points: &[(f64, bool)]) -> Self {
        if points.len() < MIN_CALIBRATION_POINTS {
            return Self::default();
        }
        let mut sorted: Vec<(f64, f64)> = points
            .iter()
            .map(|(s, right)| (*s, if *right { 1.0 } else { 0.0 }))
            .collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Blocks of (sum of raw, sum of outcomes, count), merged while they decrease.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for (raw, outcome) in sorted {
            blocks.push((raw, outcome, 1.0));
            while blocks.len() > 1 {
                let (r2, o2, n2) = blocks[blocks.len() - 1];
                let (r1, o1, n1) = blocks[blocks.len() - 2];
                if o1 / n1 < o2 / n2 {
                    break;
                }
                blocks.pop();
                *blocks.last_mut().expect("two blocks") = (r1 + r2, o1 + o2, n1 + n2);
            }
        }
        // Shrink each block a little towards one half, so a small block of all-right (or
        // all-wrong) decisions does not promise certainty.
        // Shrinking can undo the order of neighbouring small blocks; a running maximum
        // restores it.
        let mut floor = 0.0f64;
        let knots = blocks
            .iter()
            .map(|(r, o, n)| {
                floor = floor.max((o + 0.5) / (n + 1.0));
                (r / n, floor)
            })
            .collect();
        Self {
            knots,
            fitted_on: points.len(),
        }
    }

    /// Whether a map was fitted.
    pub fn is_fitted(&self) -> bool {
        !self.knots.is_empty()
    }

    /// How many held-out decisions the map was fitted on.
    pub fn fitted_on(&self) -> usize {
        self.fitted_on
    }

    /// The probability of being right at a raw score: linear between the knots, flat
    /// beyond them.
    pub fn apply(&self, raw: f64) -> f64 {
        let raw = raw.clamp(0.0, 1.0);
        let (Some(first), Some(last)) = (self.knots.first(), self.knots.last()) else {
            return raw;
        };
        if raw <= first.0 {
            return first.1;
        }
        if raw >= last.0 {
            return last.1;
        }
        let i = self.knots.partition_point(|(r, _)| *r <= raw);
        let (r0, p0) = self.knots[i - 1];
        let (r1, p1) = self.knots[i];
        if r1 - r0 <= f64::EPSILON {
            return p1;
        }
        p0 + (p1 - p0) * (raw - r0) / (r1 - r0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_few_points_leave_the_score_alone() {
        let c = Calibration::fit(&[(0.3, true), (0.9, false)]);
        assert!(!c.is_fitted());
        assert_eq!(c.apply(0.42), 0.42);
    }

    #[test]
    fn the_map_is_monotone_and_follows_the_share_right() {
        // Scores below 0.5 are right a quarter of the time, above it nine times in ten.
        let mut points = Vec::new();
        for i in 0..400 {
            let low = f64::from(i % 50) / 100.0;
            points.push((low, i % 4 == 0));
            points.push((0.5 + low, i % 10 != 0));
        }
        let c = Calibration::fit(&points);
        assert!(c.is_fitted());
        assert_eq!(c.fitted_on(), 800);
        let mut last = 0.0;
        for step in 0..=100 {
            let p = c.apply(f64::from(step) / 100.0);
            assert!(p >= last - 1e-12, "not monotone at {step}");
            assert!((0.0..=1.0).contains(&p));
            last = p;
        }
        assert!((c.apply(0.2) - 0.25).abs() < 0.05, "{}", c.apply(0.2));
        assert!((c.apply(0.8) - 0.9).abs() < 0.05, "{}", c.apply(0.8));
    }

    #[test]
    fn a_block_of_only_right_answers_does_not_promise_certainty() {
        let points: Vec<(f64, bool)> = (0..40).map(|i| (f64::from(i) / 40.0, true)).collect();
        let c = Calibration::fit(&points);
        assert!(c.apply(1.0) < 1.0);
        assert!(c.apply(1.0) > 0.95);
    }
}
