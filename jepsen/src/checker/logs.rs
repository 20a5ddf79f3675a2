//! The logs checker: a replica that panicked is a bug even when every other checker passes
//! (a panic in a background task may not kill the process). Scans the collected replica
//! logs for Rust panics; network errors and warnings during faults are expected and ignored.

use serde_json::json;

use super::{CheckResult, Validity};

/// `logs`: (node id, log text) for every replica.
pub fn check(logs: &[(u64, String)]) -> CheckResult {
    let mut panics = Vec::new();
    let (mut lines, mut count) = (0, 0);
    for (node, text) in logs {
        for line in text.lines() {
            lines += 1;
            if !line.contains("panicked at") {
                continue;
            }
            count += 1;
            if panics.len() < 10 {
                let line: String = line.chars().take(300).collect();
                panics.push(json!({"node": node, "line": line}));
            }
        }
    }
    let valid = if panics.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let summary = if panics.is_empty() {
        format!(
            "no panics in {} log lines of {} replicas",
            lines,
            logs.len()
        )
    } else {
        format!(
            "{count} replica panics (first on node {})",
            panics[0]["node"]
        )
    };
    CheckResult::new(
        "logs",
        valid,
        summary,
        json!({"lines": lines, "panic_count": count, "panics": panics}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_panics_ignores_errors() {
        let calm = "INFO replica started\nERROR RPCError timeout after 75ms\n".to_string();
        assert!(check(&[(1, calm.clone())]).is_valid());
        let bad = "thread 'tokio-runtime-worker' panicked at raft/src/x.rs:1:2:\nboom".to_string();
        let r = check(&[(1, calm), (2, bad)]);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["panics"][0]["node"], 2);
    }
}
