//! Checkers: pure functions from a [`History`](crate::history::History) (plus, for the set,
//! the final reads) to a verdict. Each returns a [`CheckResult`] with the evidence: counts,
//! and for a violation the smallest counterexample it can name.

pub mod failover;
pub mod logs;
pub mod proxy;
pub mod register;
pub mod set;
pub mod wgl;

#[cfg(test)]
mod wgl_reference_tests;
#[cfg(test)]
mod wgl_tests;

use serde::{Serialize, Serializer};
use serde_json::Value;

/// `true`, `false`, or `"unknown"` (the checker could not decide, e.g. search budget spent).
/// Unknown counts as a failure for the exit status: a checker that cannot decide proved
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Invalid,
    Unknown,
}

impl Serialize for Validity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub checker: String,
    pub valid: Validity,
    /// One line for humans.
    pub summary: String,
    /// Counts, statistics and (when invalid) the counterexample.
    pub details: Value,
}

impl CheckResult {
    pub fn new(checker: &str, valid: Validity, summary: String, details: Value) -> CheckResult {
        CheckResult {
            checker: checker.to_string(),
            valid,
            summary,
            details,
        }
    }

    pub fn is_valid(&self) -> bool {
        self.valid == Validity::Valid
    }
}

/// Nearest-rank percentile of an unsorted sample, `None` when empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
