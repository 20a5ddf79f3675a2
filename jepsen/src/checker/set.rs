//! The set checker: durability and integrity of `create` operations.
//!
//! Clients create users with unique names (`create`, value = name). After the faults are
//! healed and the cluster converged, the full user list is read from every replica
//! (`final-read`, value = list of names). Then, for every replica's final read:
//! - every acknowledged create is present (else: **lost**),
//! - every workload name present was attempted (else: **unexpected**, a value from nowhere),
//! - no create that definitely failed (4xx, or the connection was refused) is present,
//! - all replicas return the same set (else: **divergent**).
//!
//! Indeterminate creates may be present or absent; the checker counts how many survived.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{CheckResult, Validity};
use crate::history::{History, Outcome};

pub fn check(history: &History, prefix: &str) -> CheckResult {
    let mut attempted = BTreeSet::new();
    let mut acked = BTreeSet::new();
    let mut failed = BTreeSet::new();
    let mut indeterminate = BTreeSet::new();
    let mut finals: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut unreadable = BTreeSet::new();
    let mut replicas = BTreeSet::new();
    for op in &history.ops {
        match op.f.as_str() {
            "create" => {
                let Some(name) = op.value.as_str() else {
                    continue;
                };
                attempted.insert(name.to_string());
                match op.outcome {
                    Outcome::Ok => acked.insert(name.to_string()),
                    Outcome::Fail => failed.insert(name.to_string()),
                    Outcome::Info => indeterminate.insert(name.to_string()),
                };
            }
            "final-read" => {
                let node = op.node.unwrap_or(0);
                replicas.insert(node);
                if op.outcome != Outcome::Ok {
                    unreadable.insert(node);
                    continue;
                }
                let names = op.value.as_array().into_iter().flatten();
                let set = names
                    .filter_map(|v| v.as_str())
                    .filter(|n| n.starts_with(prefix))
                    .map(str::to_string)
                    .collect();
                // A replica read twice keeps its last successful read.
                finals.insert(node, set);
                unreadable.remove(&node);
            }
            _ => {}
        }
    }
    let mut lost: BTreeMap<u64, Vec<&String>> = BTreeMap::new();
    let mut unexpected: BTreeMap<u64, Vec<&String>> = BTreeMap::new();
    let mut resurrected: BTreeMap<u64, Vec<&String>> = BTreeMap::new();
    for (node, set) in &finals {
        let l: Vec<_> = acked.difference(set).collect();
        let u: Vec<_> = set.iter().filter(|n| !attempted.contains(*n)).collect();
        let r: Vec<_> = set.intersection(&failed).collect();
        if !l.is_empty() {
            lost.insert(*node, l);
        }
        if !u.is_empty() {
            unexpected.insert(*node, u);
        }
        if !r.is_empty() {
            resurrected.insert(*node, r);
        }
    }
    let distinct: BTreeSet<&BTreeSet<String>> = finals.values().collect();
    let divergent = distinct.len() > 1;
    let recovered = finals
        .values()
        .next()
        .map(|s| s.intersection(&indeterminate).count())
        .unwrap_or(0);
    let broken = !lost.is_empty() || !unexpected.is_empty() || !resurrected.is_empty() || divergent;
    let valid = if broken {
        Validity::Invalid
    } else if finals.is_empty() || !unreadable.is_empty() || acked.is_empty() {
        // Nothing read back, or nothing acknowledged: the run proved nothing.
        Validity::Unknown
    } else {
        Validity::Valid
    };
    let lost_count = lost.values().map(Vec::len).max().unwrap_or(0);
    let summary = match valid {
        Validity::Valid => format!(
            "{} acknowledged creates present on all {} replicas; {} of {} indeterminate survived",
            acked.len(),
            finals.len(),
            recovered,
            indeterminate.len()
        ),
        Validity::Invalid => format!(
            "{lost_count} lost, {} unexpected, {} failed-but-present{}",
            unexpected.values().map(Vec::len).max().unwrap_or(0),
            resurrected.values().map(Vec::len).max().unwrap_or(0),
            if divergent { ", replicas disagree" } else { "" }
        ),
        Validity::Unknown if acked.is_empty() => "no create was acknowledged".to_string(),
        Validity::Unknown => format!("no final read from replicas {unreadable:?}"),
    };
    let sample = |m: &BTreeMap<u64, Vec<&String>>| -> serde_json::Value {
        m.iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    json!({"count": v.len(), "sample": v.iter().take(20).collect::<Vec<_>>()}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    CheckResult::new(
        "set",
        valid,
        summary,
        json!({
            "attempted": attempted.len(),
            "acknowledged": acked.len(),
            "failed": failed.len(),
            "indeterminate": indeterminate.len(),
            "indeterminate_present": recovered,
            "replicas_read": finals.keys().collect::<Vec<_>>(),
            "replicas_unreadable": unreadable,
            "lost_count": lost_count,
            "lost": sample(&lost),
            "unexpected": sample(&unexpected),
            "failed_but_present": sample(&resurrected),
            "divergent": divergent,
            "final_sizes": finals.iter().map(|(n, s)| (n.to_string(), s.len())).collect::<BTreeMap<_, _>>(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;
    use serde_json::{json, Value};

    fn op(f: &str, v: Value, node: u64, outcome: Outcome) -> Op {
        Op {
            process: 0,
            f: f.into(),
            key: None,
            value: v,
            node: Some(node),
            invoke_ns: 0,
            complete_ns: 1,
            outcome,
            error: None,
        }
    }

    fn run(ops: Vec<Op>) -> CheckResult {
        check(
            &History {
                ops,
                ..Default::default()
            },
            "js-",
        )
    }

    fn creates() -> Vec<Op> {
        vec![
            op("create", json!("js-a"), 1, Outcome::Ok),
            op("create", json!("js-b"), 2, Outcome::Ok),
            op("create", json!("js-c"), 3, Outcome::Info),
            op("create", json!("js-d"), 1, Outcome::Fail),
        ]
    }

    #[test]
    fn all_acknowledged_present_is_valid() {
        let mut h = creates();
        // "admin" is not a workload name; "js-c" was indeterminate and may be present.
        h.push(op(
            "final-read",
            json!(["admin", "js-a", "js-b", "js-c"]),
            1,
            Outcome::Ok,
        ));
        h.push(op(
            "final-read",
            json!(["admin", "js-a", "js-b", "js-c"]),
            2,
            Outcome::Ok,
        ));
        let r = run(h);
        assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
        assert_eq!(r.details["indeterminate_present"], 1);
    }

    #[test]
    fn lost_write_is_caught() {
        let mut h = creates();
        h.push(op("final-read", json!(["js-a", "js-b"]), 1, Outcome::Ok));
        h.push(op("final-read", json!(["js-a"]), 2, Outcome::Ok));
        let r = run(h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["lost"]["2"]["sample"], json!(["js-b"]));
        assert_eq!(r.details["divergent"], true);
    }

    #[test]
    fn value_from_nowhere_and_failed_but_present_are_caught() {
        let mut h = creates();
        h.push(op(
            "final-read",
            json!(["js-a", "js-b", "js-zzz"]),
            1,
            Outcome::Ok,
        ));
        let r = run(h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["unexpected"]["1"]["sample"], json!(["js-zzz"]));
        let mut h = creates();
        h.push(op(
            "final-read",
            json!(["js-a", "js-b", "js-d"]),
            1,
            Outcome::Ok,
        ));
        let r = run(h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.details["failed_but_present"]["1"]["count"], 1);
    }

    #[test]
    fn unreadable_replica_is_unknown() {
        let mut h = creates();
        h.push(op("final-read", json!(["js-a", "js-b"]), 1, Outcome::Ok));
        h.push(op("final-read", Value::Null, 2, Outcome::Info));
        assert_eq!(run(h).valid, Validity::Unknown);
        assert_eq!(run(creates()).valid, Validity::Unknown);
        // A run in which nothing was acknowledged (say, the API is down) proves nothing.
        let h = vec![
            op("create", json!("js-a"), 1, Outcome::Info),
            op("final-read", json!([]), 1, Outcome::Ok),
        ];
        assert_eq!(run(h).valid, Validity::Unknown);
    }
}
