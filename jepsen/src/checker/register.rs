//! The register checker: per-key linearizability of `read` / `write` operations.
//!
//! Keys are independent registers, so the history is split per key (P-compositionality:
//! a history is linearizable iff each key's sub-history is) and each part is checked with
//! [`wgl::check`]. Workloads keep every key's history short by rotating keys, which keeps
//! the NP-complete search cheap.
//!
//! How outcomes map onto the model:
//! - `write` ok: happened between invoke and completion.
//! - `write` info (timeout, 503): may have happened at any time after invoke, or never.
//! - `write` fail (a 4xx: definitely rejected): dropped — it never happened, so a read that
//!   returns its value is a violation.
//! - `read` ok: observed its value between invoke and completion. A read that did not
//!   complete ok observed nothing and is dropped.
//! - `write` info whose value no ok read of the key returned: dropped before the search.
//!   Sound and complete: in any linearization that applies it, no read sits between it and
//!   the next write (that read would have returned its value), so removing it leaves a valid
//!   linearization; and leaving an indeterminate write out is always allowed. Under packet
//!   loss most timed-out writes are of this kind, and each one pending to the end of the
//!   history multiplies the search space.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::wgl::{self, Call, Register, RegisterOp, Verdict};
use super::{CheckResult, Validity};
use crate::history::{History, Op, Outcome};

/// Default search budget per key.
pub const DEFAULT_MAX_STEPS: u64 = 20_000_000;

pub fn check(history: &History, max_steps: u64) -> CheckResult {
    let mut per_key: BTreeMap<&str, Vec<(&Op, Call<RegisterOp>)>> = BTreeMap::new();
    let (mut reads, mut writes, mut indeterminate, mut malformed) = (0, 0, 0, Vec::new());
    for op in &history.ops {
        let Some(key) = op.key.as_deref() else {
            continue;
        };
        let call = match (op.f.as_str(), op.outcome) {
            ("write", Outcome::Fail) => continue,
            ("write", outcome) => {
                let Some(v) = op.value.as_i64() else {
                    malformed.push(op_json(op));
                    continue;
                };
                writes += 1;
                let ret = if outcome == Outcome::Ok {
                    Some(op.complete_ns)
                } else {
                    indeterminate += 1;
                    None
                };
                Call {
                    op: RegisterOp::Write(v),
                    call: op.invoke_ns,
                    ret,
                }
            }
            ("read", Outcome::Ok) => {
                let v = match &op.value {
                    Value::Null => None,
                    v => match v.as_i64() {
                        Some(v) => Some(v),
                        None => {
                            malformed.push(op_json(op));
                            continue;
                        }
                    },
                };
                reads += 1;
                Call {
                    op: RegisterOp::Read(v),
                    call: op.invoke_ns,
                    ret: Some(op.complete_ns),
                }
            }
            _ => continue,
        };
        per_key.entry(key).or_default().push((op, call));
    }
    let mut failures = Vec::new();
    let mut unknown = Vec::new();
    let mut largest = 0;
    let mut pruned = 0;
    for entries in per_key.values_mut() {
        let observed: std::collections::HashSet<Option<i64>> = entries
            .iter()
            .filter_map(|(_, c)| match c.op {
                RegisterOp::Read(v) => Some(v),
                RegisterOp::Write(_) => None,
            })
            .collect();
        let before = entries.len();
        entries.retain(|(_, c)| match c.op {
            RegisterOp::Write(v) => c.ret.is_some() || observed.contains(&Some(v)),
            RegisterOp::Read(_) => true,
        });
        pruned += before - entries.len();
    }
    for (key, entries) in &per_key {
        largest = largest.max(entries.len());
        let calls: Vec<Call<RegisterOp>> = entries.iter().map(|(_, c)| c.clone()).collect();
        match wgl::check(&Register, &calls, max_steps) {
            Verdict::Linearizable => {}
            Verdict::Unknown { steps } => unknown.push(json!({"key": key, "steps": steps})),
            Verdict::NotLinearizable(cx) => {
                let op = |i: usize| op_json(entries[i].0);
                // The tail of the prefix is what matters; the whole prefix can be long.
                let tail = cx.prefix.len().saturating_sub(10);
                failures.push(json!({
                    "key": key,
                    "explanation": format!(
                        "after linearizing {} operations the register holds {}; the operation below returned before it could be placed, and no pending operation can be applied next",
                        cx.prefix.len(),
                        show(cx.state)
                    ),
                    "stuck": op(cx.stuck),
                    "state": cx.state,
                    "linearized_tail": cx.prefix[tail..].iter().map(|&i| op(i)).collect::<Vec<_>>(),
                    "pending_candidates": cx.candidates.iter().map(|&i| op(i)).collect::<Vec<_>>(),
                }));
            }
        }
    }
    let valid = if !failures.is_empty() || !malformed.is_empty() {
        Validity::Invalid
    } else if !unknown.is_empty() || reads == 0 || writes == indeterminate {
        // A budget ran out, or nothing was observed or acknowledged: nothing was proven.
        Validity::Unknown
    } else {
        Validity::Valid
    };
    let summary = match valid {
        Validity::Valid => format!(
            "{} keys linearizable ({reads} reads, {writes} writes of which {indeterminate} indeterminate)",
            per_key.len()
        ),
        Validity::Invalid => format!(
            "{} of {} keys NOT linearizable{}",
            failures.len(),
            per_key.len(),
            if malformed.is_empty() { String::new() } else { format!(", {} malformed ops", malformed.len()) }
        ),
        Validity::Unknown if unknown.is_empty() => {
            format!("nothing to check: {reads} successful reads, {} acknowledged writes", writes - indeterminate)
        }
        Validity::Unknown => format!("search budget exhausted on {} keys", unknown.len()),
    };
    failures.truncate(5);
    malformed.truncate(5);
    CheckResult::new(
        "register",
        valid,
        summary,
        json!({
            "keys": per_key.len(),
            "reads": reads,
            "writes": writes,
            "indeterminate_writes": indeterminate,
            "unobserved_indeterminate_writes_dropped": pruned,
            "largest_key_history": largest,
            "failures": failures,
            "unknown": unknown,
            "malformed": malformed,
        }),
    )
}

fn show(v: Option<i64>) -> String {
    v.map(|v| v.to_string())
        .unwrap_or_else(|| "nothing (initial)".into())
}

/// An operation as shown in counterexamples (times in milliseconds).
pub fn op_json(op: &Op) -> Value {
    json!({
        "process": op.process,
        "f": op.f,
        "key": op.key,
        "value": op.value,
        "node": op.node,
        "outcome": op.outcome,
        "invoke_ms": op.invoke_ns as f64 / 1e6,
        "complete_ms": op.complete_ns as f64 / 1e6,
        "error": op.error,
    })
}
