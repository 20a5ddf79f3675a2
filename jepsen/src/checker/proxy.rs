//! Proxy availability: requests through each replica's proxy (`proxy-get`) to a backend on a
//! route that existed before the run. The data path is local to a replica, so a replica
//! that is running must keep proxying through partitions, elections and other replicas'
//! crashes. A failed request counts against the cluster unless it overlapped a window in
//! which that replica itself was down (killed or paused, until `/hub/readyz` answered again), plus a
//! grace period, or a window in which the harness itself was stalled (its timeout fired late,
//! so it cannot tell a slow answer from a late look).

use std::collections::BTreeMap;

use serde_json::json;

use super::register::op_json;
use super::{CheckResult, Validity};
use crate::history::{History, Outcome};

pub fn check(history: &History, grace_ms: u64, max_failures: usize) -> CheckResult {
    let grace = grace_ms * 1_000_000;
    // ok, failed while down, failed while up, failed during a harness stall
    let mut per_node: BTreeMap<u64, [usize; 4]> = BTreeMap::new();
    let mut samples = Vec::new();
    for op in history.ops.iter().filter(|o| o.f == "proxy-get") {
        let node = op.node.unwrap_or(0);
        let c = per_node.entry(node).or_default();
        if op.outcome == Outcome::Ok {
            c[0] += 1;
            continue;
        }
        let overlaps = |d: &crate::history::DownWindow| {
            op.invoke_ns <= d.end_ns + grace && op.complete_ns >= d.start_ns
        };
        if history.down.iter().any(|d| d.node == node && overlaps(d)) {
            c[1] += 1;
        } else if history.stalls.iter().any(overlaps) {
            // The harness was not running when it should have seen the answer.
            c[3] += 1;
        } else {
            c[2] += 1;
            if samples.len() < 10 {
                samples.push(op_json(op));
            }
        }
    }
    let failed: usize = per_node.values().map(|c| c[2]).sum();
    let total: usize = per_node.values().map(|c| c.iter().sum::<usize>()).sum();
    let valid = if total == 0 {
        Validity::Unknown
    } else if failed > max_failures {
        Validity::Invalid
    } else {
        Validity::Valid
    };
    let summary = format!(
        "{failed} of {total} proxied requests failed on live replicas ({} more while the replica was down, {} during harness stalls)",
        per_node.values().map(|c| c[1]).sum::<usize>(),
        per_node.values().map(|c| c[3]).sum::<usize>()
    );
    CheckResult::new(
        "proxy",
        valid,
        summary,
        json!({
            "per_node": per_node.iter().map(|(n, c)| (n.to_string(), json!({"ok": c[0], "failed_while_down": c[1], "failed_while_up": c[2], "failed_during_stall": c[3]}))).collect::<serde_json::Map<_, _>>(),
            "failed_while_up": failed,
            "max_failures": max_failures,
            "grace_ms": grace_ms,
            "samples": samples,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{DownWindow, Op};

    fn get(node: u64, t_ms: u64, outcome: Outcome) -> Op {
        Op {
            process: node,
            f: "proxy-get".into(),
            key: None,
            value: serde_json::Value::Null,
            node: Some(node),
            invoke_ns: t_ms * 1_000_000,
            complete_ns: (t_ms + 5) * 1_000_000,
            outcome,
            error: None,
        }
    }

    #[test]
    fn failures_on_down_replicas_are_excused_others_are_not() {
        let down = vec![DownWindow {
            node: 2,
            start_ns: 1_000_000_000,
            end_ns: 3_000_000_000,
        }];
        let ops = vec![
            get(1, 500, Outcome::Ok),
            get(2, 1500, Outcome::Fail),
            get(2, 3100, Outcome::Fail), // within the 500 ms grace
            get(1, 1500, Outcome::Ok),
        ];
        let h = History {
            ops: ops.clone(),
            down: down.clone(),
            ..Default::default()
        };
        assert_eq!(check(&h, 500, 0).valid, Validity::Valid);
        let mut ops = ops;
        ops.push(get(1, 2000, Outcome::Fail)); // node 1 was up
        let mut h = History {
            ops,
            down,
            ..Default::default()
        };
        let r = check(&h, 500, 0);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["per_node"]["1"]["failed_while_up"], 1);
        assert_eq!(check(&h, 500, 1).valid, Validity::Valid);
        // The same failure while the harness itself was stalled is not held against node 1.
        h.stalls.push(DownWindow {
            node: 0,
            start_ns: 2_001_000_000,
            end_ns: 2_003_000_000,
        });
        let r = check(&h, 500, 0);
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.details["per_node"]["1"]["failed_during_stall"], 1);
    }
}
