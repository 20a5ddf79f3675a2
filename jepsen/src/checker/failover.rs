//! Failover timing: for every fault that took the leader away (`kill-leader`, and also
//! `pause-leader` and `partition-leader`), the time from the fault to the first write
//! (`write` or `create`) that was *invoked after* the fault and acknowledged. Only writes
//! invoked after the fault count: one invoked before may have been committed by the old
//! leader. A fault after which the load stopped too soon is reported as unmeasured.

use std::collections::BTreeMap;

use serde_json::json;

use super::{percentile, CheckResult, Validity};
use crate::history::{History, Outcome};

/// Nemesis kinds that remove the current leader.
pub const LEADER_FAULTS: [&str; 3] = ["kill-leader", "pause-leader", "partition-leader"];

/// Faults that take out exactly the nodes they name (a kill, a pause, or the isolation of one
/// node); other partitions leave connectivity that the window does not describe.
const NODE_FAULTS: [&str; 5] = [
    "kill",
    "kill-leader",
    "pause",
    "pause-leader",
    "partition-leader",
];

/// Whether a (combined) fault took out at least half of the cluster's `n` nodes: then no
/// write can be acknowledged until it heals, whatever the system does (two of three replicas
/// killed or paused at once), so the time counts from the heal, not from the fault.
fn quorum_lost(kind: &str, nodes: &[u64], n: usize) -> bool {
    kind.split('+').all(|p| NODE_FAULTS.contains(&p)) && nodes.len() * 2 >= n && n > 0
}

/// The cluster size a history shows: the highest node id in it (for an offline re-check).
pub fn nodes_in(history: &History) -> usize {
    history
        .ops
        .iter()
        .filter_map(|o| o.node)
        .chain(history.nemesis.iter().flat_map(|w| w.nodes.iter().copied()))
        .chain(history.down.iter().map(|d| d.node))
        .max()
        .unwrap_or(0) as usize
}

/// `n` is the cluster size.
pub fn check(history: &History, max_ms: f64, n: usize) -> CheckResult {
    let mut writes: Vec<(u64, u64)> = history
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok && (o.f == "write" || o.f == "create"))
        .map(|o| (o.invoke_ns, o.complete_ns))
        .collect();
    writes.sort_unstable();
    let load_end = history
        .ops
        .iter()
        .filter(|o| o.f == "write" || o.f == "create")
        .map(|o| o.invoke_ns)
        .max()
        .unwrap_or(0);
    let mut by_kind: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut unmeasured = Vec::new();
    let mut too_slow = Vec::new();
    for w in &history.nemesis {
        let Some(kind) = LEADER_FAULTS
            .iter()
            .find(|k| w.kind.split('+').any(|p| p == **k))
        else {
            continue;
        };
        let lost = quorum_lost(&w.kind, &w.nodes, n);
        let from = if lost { w.end_ns } else { w.start_ns };
        let first = writes[writes.partition_point(|(inv, _)| *inv < w.start_ns)..]
            .iter()
            .map(|(_, done)| *done)
            .min();
        match first {
            Some(done) => {
                let ms = done.saturating_sub(from) as f64 / 1e6;
                if ms > max_ms {
                    too_slow.push(json!({"fault": w.description, "at_ms": w.start_ns / 1_000_000, "failover_ms": ms}));
                }
                let key = if lost {
                    "quorum-lost (from the heal)"
                } else {
                    kind
                };
                by_kind.entry(key).or_default().push(ms);
            }
            None if load_end < from + (max_ms * 1e6) as u64 => {
                unmeasured.push(w.description.clone());
            }
            None => {
                too_slow.push(json!({"fault": w.description, "at_ms": w.start_ns / 1_000_000, "failover_ms": null}));
            }
        }
    }
    let stats: BTreeMap<&str, serde_json::Value> = by_kind
        .iter()
        .map(|(k, v)| {
            (
                *k,
                json!({
                    "count": v.len(),
                    "p50_ms": percentile(v, 50.0),
                    "p99_ms": percentile(v, 99.0),
                    "max_ms": percentile(v, 100.0),
                    "all_ms": v,
                }),
            )
        })
        .collect();
    let valid = if too_slow.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let kills = by_kind.get("kill-leader").map(Vec::as_slice).unwrap_or(&[]);
    let summary = if by_kind.is_empty() {
        "no leader fault measured".to_string()
    } else if kills.is_empty() {
        format!(
            "{} leader faults measured (no leader kills)",
            by_kind.values().map(Vec::len).sum::<usize>()
        )
    } else {
        format!(
            "{} leader kills: failover p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            kills.len(),
            percentile(kills, 50.0).unwrap_or(0.0),
            percentile(kills, 99.0).unwrap_or(0.0),
            percentile(kills, 100.0).unwrap_or(0.0)
        )
    };
    let summary = if too_slow.is_empty() {
        summary
    } else {
        format!(
            "{} leader faults without an acknowledged write within {max_ms} ms; {summary}",
            too_slow.len()
        )
    };
    CheckResult::new(
        "failover",
        valid,
        summary,
        json!({"max_ms": max_ms, "by_kind": stats, "too_slow": too_slow, "unmeasured": unmeasured}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{NemesisWindow, Op};

    fn write(t0_ms: u64, t1_ms: u64, outcome: Outcome) -> Op {
        Op {
            process: 0,
            f: "write".into(),
            key: Some("k".into()),
            value: 1.into(),
            node: Some(1),
            invoke_ns: t0_ms * 1_000_000,
            complete_ns: t1_ms * 1_000_000,
            outcome,
            error: None,
        }
    }

    fn kill(at_ms: u64) -> NemesisWindow {
        NemesisWindow {
            kind: "kill-leader".into(),
            description: format!("kill leader at {at_ms}"),
            nodes: vec![1],
            start_ns: at_ms * 1_000_000,
            end_ns: (at_ms + 5000) * 1_000_000,
        }
    }

    #[test]
    fn measures_first_ack_invoked_after_the_kill() {
        let h = History {
            ops: vec![
                // Invoked before the kill, acknowledged after: does not count.
                write(990, 1005, Outcome::Ok),
                write(1010, 1200, Outcome::Info),
                write(1100, 2500, Outcome::Ok),
                write(1300, 1800, Outcome::Ok),
                write(9000, 9001, Outcome::Ok),
            ],
            nemesis: vec![kill(1000)],
            ..Default::default()
        };
        let r = check(&h, 10_000.0, 3);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.details["by_kind"]["kill-leader"]["p50_ms"], 800.0);
    }

    #[test]
    fn a_fault_that_takes_out_a_majority_is_timed_from_its_heal() {
        let both = |nodes: Vec<u64>| NemesisWindow {
            kind: "kill-leader+pause-leader".into(),
            description: "kill -9 node 1 (leader); SIGSTOP node 3".into(),
            nodes,
            start_ns: 1_000 * 1_000_000,
            end_ns: 16_000 * 1_000_000,
        };
        let mut ops = vec![
            write(100, 200, Outcome::Ok),
            write(16_100, 16_400, Outcome::Ok),
        ];
        ops[0].node = Some(3);
        // Two of three nodes out: nothing can commit until the heal; 400 ms after it.
        let h = History {
            ops: ops.clone(),
            nemesis: vec![both(vec![1, 3])],
            ..Default::default()
        };
        let r = check(&h, 10_000.0, 3);
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(
            r.details["by_kind"]["quorum-lost (from the heal)"]["p50_ms"],
            400.0
        );
        // One node out of three: a majority remains, and 15 s without a write fails.
        let h = History {
            ops,
            nemesis: vec![both(vec![1])],
            ..Default::default()
        };
        assert_eq!(check(&h, 10_000.0, 3).valid, Validity::Invalid);
    }

    #[test]
    fn no_write_after_kill_while_load_continued_fails() {
        let h = History {
            ops: vec![
                write(100, 200, Outcome::Ok),
                write(1500, 30_000, Outcome::Info),
                write(40_000, 41_000, Outcome::Fail),
            ],
            nemesis: vec![kill(1000)],
            ..Default::default()
        };
        let r = check(&h, 10_000.0, 3);
        assert_eq!(r.valid, Validity::Invalid);
        // A kill right before the load ended is not held against the cluster.
        let h = History {
            ops: vec![write(100, 200, Outcome::Ok)],
            nemesis: vec![kill(1000)],
            ..Default::default()
        };
        let r = check(&h, 10_000.0, 3);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.details["unmeasured"].as_array().map(Vec::len), Some(1));
    }
}
