//! Known linearizable and known non-linearizable histories, and the verdicts they must get.
//! A checker that cannot fail is no checker: every "invalid" case here is a real anomaly
//! (stale read, lost write, value from nowhere, order inversion).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::register;
use super::wgl::{check, Call, Register, RegisterOp, Verdict};
use super::Validity;
use crate::history::{History, Op, Outcome};

pub(super) fn w(v: i64, call: u64, ret: u64) -> Call<RegisterOp> {
    Call {
        op: RegisterOp::Write(v),
        call,
        ret: Some(ret),
    }
}
pub(super) fn w_info(v: i64, call: u64) -> Call<RegisterOp> {
    Call {
        op: RegisterOp::Write(v),
        call,
        ret: None,
    }
}
pub(super) fn r(v: Option<i64>, call: u64, ret: u64) -> Call<RegisterOp> {
    Call {
        op: RegisterOp::Read(v),
        call,
        ret: Some(ret),
    }
}

pub(super) fn verdict(calls: &[Call<RegisterOp>]) -> Verdict<Option<i64>> {
    check(&Register, calls, 1_000_000)
}

pub(super) fn linearizable(calls: &[Call<RegisterOp>]) -> bool {
    match verdict(calls) {
        Verdict::Linearizable => true,
        Verdict::NotLinearizable(_) => false,
        Verdict::Unknown { .. } => panic!("budget exhausted on a tiny history"),
    }
}

#[test]
fn empty_and_sequential_histories_are_linearizable() {
    assert!(linearizable(&[]));
    assert!(linearizable(&[
        r(None, 0, 1),
        w(1, 2, 3),
        r(Some(1), 4, 5),
        w(2, 6, 7),
        r(Some(2), 8, 9)
    ]));
}

#[test]
fn overlapping_read_may_see_old_or_new_value() {
    // The read overlaps the write: both outcomes are fine.
    assert!(linearizable(&[w(1, 0, 10), r(None, 5, 15)]));
    assert!(linearizable(&[w(1, 0, 10), r(Some(1), 5, 15)]));
    // Concurrent writes: a later read may see either, but then must stick with it.
    assert!(linearizable(&[
        w(1, 0, 10),
        w(2, 0, 10),
        r(Some(1), 20, 21),
        r(Some(1), 22, 23)
    ]));
    assert!(linearizable(&[
        w(1, 0, 10),
        w(2, 0, 10),
        r(Some(2), 20, 21)
    ]));
}

#[test]
fn classic_stale_read_is_caught() {
    // w(1) completes, then w(2) completes, then a read returns 1: the stale read a deposed
    // leader serves from its local state (etcd 0.4, Consul default mode).
    let h = [w(1, 0, 10), w(2, 20, 30), r(Some(1), 40, 50)];
    match verdict(&h) {
        Verdict::NotLinearizable(cx) => {
            assert_eq!(
                cx.stuck, 2,
                "the stale read is the op that cannot be placed"
            );
            assert_eq!(cx.state, Some(2));
            assert_eq!(cx.prefix, vec![0, 1]);
        }
        v => panic!("stale read accepted: {v:?}"),
    }
    // Reading the initial value after a completed write is stale too.
    assert!(!linearizable(&[w(1, 0, 10), r(None, 20, 30)]));
}

#[test]
fn reads_may_not_go_back_in_time() {
    // Both writes are concurrent, but once a read saw 2 a later read may not see 1 unless
    // a write of 1 could come after it.
    assert!(!linearizable(&[
        w(1, 0, 10),
        w(2, 0, 10),
        r(Some(2), 20, 21),
        r(Some(1), 22, 23)
    ]));
    // Two readers overlapping each other may see different values if a write overlaps.
    assert!(linearizable(&[
        w(1, 0, 100),
        r(Some(1), 10, 20),
        r(None, 15, 30)
    ]));
    // ... but not if the reads are sequential: new value then old value.
    assert!(!linearizable(&[
        w(1, 0, 100),
        r(Some(1), 10, 20),
        r(None, 30, 40)
    ]));
}

#[test]
fn value_from_nowhere_is_caught() {
    assert!(!linearizable(&[w(1, 0, 10), r(Some(7), 20, 30)]));
}

#[test]
fn indeterminate_writes_may_or_may_not_happen() {
    // A timed-out write that nobody observed is fine.
    assert!(linearizable(&[
        w_info(1, 0),
        r(None, 10, 20),
        r(None, 30, 40)
    ]));
    // ... so is one observed much later (it took effect late).
    assert!(linearizable(&[
        w_info(1, 0),
        r(None, 10, 20),
        r(Some(1), 1000, 1010)
    ]));
    // Once observed, it cannot be undone.
    assert!(!linearizable(&[
        w_info(1, 0),
        r(Some(1), 10, 20),
        r(None, 30, 40)
    ]));
    // It cannot take effect before it was invoked.
    assert!(!linearizable(&[r(Some(1), 0, 5), w_info(1, 10)]));
}

#[test]
fn lost_acknowledged_write_is_caught() {
    // w(2) was acknowledged after w(1); a later read of 1 means w(2) was lost or reordered.
    assert!(!linearizable(&[
        w(1, 0, 5),
        w(2, 10, 20),
        r(Some(2), 25, 30),
        r(Some(1), 35, 40)
    ]));
}

#[test]
fn equal_timestamps_count_as_concurrent() {
    assert!(linearizable(&[w(1, 0, 10), r(None, 10, 20)]));
}

/// Simulates an atomic register hit by concurrent clients: each op takes effect at a random
/// instant inside its [call, ret] window, so the history is linearizable by construction.
fn random_history(seed: u64, clients: usize, ops: usize) -> Vec<Call<RegisterOp>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut next_free = vec![0u64; clients];
    let mut planned = Vec::new();
    let mut value = 0;
    for _ in 0..ops {
        let c = rng.gen_range(0..clients);
        let call = next_free[c] + rng.gen_range(0..20);
        let effect = call + rng.gen_range(1..30);
        let ret = effect + rng.gen_range(1..30);
        next_free[c] = ret + 1;
        let write = rng.gen_bool(0.4);
        if write {
            value += 1;
        }
        planned.push((effect, call, ret, write.then_some(value)));
    }
    planned.sort_by_key(|p| p.0);
    let mut reg = None;
    let mut out = Vec::new();
    for (_, call, ret, write) in planned {
        match write {
            Some(v) => {
                reg = Some(v);
                out.push(w(v, call, ret));
            }
            None => out.push(r(reg, call, ret)),
        }
    }
    out
}

#[test]
fn random_linearizable_histories_pass() {
    for seed in 0..30 {
        let h = random_history(seed, 5, 200);
        assert!(linearizable(&h), "seed {seed}");
    }
}

#[test]
fn random_histories_with_an_injected_stale_read_fail() {
    let mut caught = 0;
    for seed in 0..30 {
        let mut h = random_history(seed, 5, 200);
        // Append a read, after everything else completed, of a value that was overwritten
        // by a later acknowledged write: stale in any linearization.
        let end = h.iter().filter_map(|c| c.ret).max().unwrap_or(0);
        let (mut first, mut last) = (None, None);
        for c in &h {
            if let RegisterOp::Write(v) = c.op {
                first = first.or(Some(v));
                last = Some(v);
            }
        }
        if first == last {
            continue;
        }
        h.push(r(first, end + 10, end + 20));
        assert!(!linearizable(&h), "seed {seed}: stale read not caught");
        caught += 1;
    }
    assert!(caught >= 25);
}

#[test]
fn budget_exhaustion_is_unknown_not_valid() {
    let h = random_history(1, 5, 200);
    assert!(matches!(check(&Register, &h, 10), Verdict::Unknown { .. }));
}

fn op(process: u64, f: &str, v: serde_json::Value, t0: u64, t1: u64, outcome: Outcome) -> Op {
    Op {
        process,
        f: f.into(),
        key: Some("g".into()),
        value: v,
        node: Some(1),
        invoke_ns: t0,
        complete_ns: t1,
        outcome,
        error: None,
    }
}

#[test]
fn register_checker_maps_outcomes() {
    use serde_json::json;
    let ok = |ops| {
        register::check(
            &History {
                ops,
                ..Default::default()
            },
            1_000_000,
        )
    };
    // Failed reads and info reads are ignored; an info write may be seen later.
    let h = vec![
        op(0, "write", json!(1), 0, 10, Outcome::Ok),
        op(1, "read", json!(null), 20, 30, Outcome::Fail),
        op(2, "write", json!(2), 35, 40, Outcome::Info),
        op(3, "read", json!(2), 50, 60, Outcome::Ok),
    ];
    assert_eq!(ok(h).valid, Validity::Valid);
    // A definitely failed write that is observed: its value came from nowhere.
    let h = vec![
        op(0, "write", json!(1), 0, 10, Outcome::Fail),
        op(1, "read", json!(1), 20, 30, Outcome::Ok),
    ];
    let res = ok(h);
    assert_eq!(res.valid, Validity::Invalid);
    assert_eq!(res.details["failures"][0]["key"], "g");
    // The classic stale read, through the history adapter, with its counterexample.
    let h = vec![
        op(0, "write", json!(1), 0, 10, Outcome::Ok),
        op(1, "write", json!(2), 20, 30, Outcome::Ok),
        op(2, "read", json!(1), 40, 50, Outcome::Ok),
    ];
    let res = ok(h);
    assert_eq!(res.valid, Validity::Invalid);
    let f = &res.details["failures"][0];
    assert_eq!(f["stuck"]["process"], 2);
    assert_eq!(f["state"], 2);
    // Keys are independent: the same values on two keys do not interfere.
    let mut h = vec![
        op(0, "write", json!(1), 0, 10, Outcome::Ok),
        op(1, "read", json!(1), 20, 30, Outcome::Ok),
    ];
    let mut other = op(2, "read", json!(null), 40, 50, Outcome::Ok);
    other.key = Some("h".into());
    h.push(other);
    assert_eq!(ok(h).valid, Validity::Valid);
    // Only failed reads and unacknowledged writes: nothing was observed.
    let h = vec![
        op(0, "write", json!(1), 0, 10, Outcome::Info),
        op(1, "read", json!(null), 20, 30, Outcome::Fail),
    ];
    assert_eq!(ok(h).valid, Validity::Unknown);
}

#[test]
fn larger_concurrent_history_with_indeterminate_writes_is_fast() {
    let mut h = random_history(3, 10, 1000);
    // Turn every 10th write indeterminate: the hardest case for the search.
    let mut n = 0;
    for c in h.iter_mut() {
        if matches!(c.op, RegisterOp::Write(_)) {
            n += 1;
            if n % 10 == 0 {
                c.ret = None;
            }
        }
    }
    let t = std::time::Instant::now();
    assert!(matches!(
        check(&Register, &h, 20_000_000),
        Verdict::Linearizable
    ));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn unobserved_indeterminate_writes_do_not_exhaust_the_search() {
    use serde_json::json;
    // 40 timed-out writes pending to the end of the history, none of them ever read: with
    // a budget of 1,000 steps the search would give up if it had to place each of them.
    let mut h = vec![op(0, "write", json!(1), 0, 10, Outcome::Ok)];
    for i in 0..40u64 {
        h.push(op(
            10 + i,
            "write",
            json!(100 + i),
            20 + i,
            5_000,
            Outcome::Info,
        ));
    }
    h.push(op(1, "read", json!(1), 100, 110, Outcome::Ok));
    h.push(op(2, "write", json!(2), 200, 210, Outcome::Ok));
    h.push(op(3, "read", json!(2), 300, 310, Outcome::Ok));
    let check = |ops: Vec<Op>| {
        register::check(
            &History {
                ops,
                ..Default::default()
            },
            1_000,
        )
    };
    let res = check(h.clone());
    assert_eq!(res.valid, Validity::Valid, "{}", res.summary);
    assert_eq!(res.details["unobserved_indeterminate_writes_dropped"], 40);
    // An indeterminate write that was observed stays, and a stale read after the later
    // acknowledged write is still caught.
    h.push(op(4, "read", json!(105), 400, 410, Outcome::Ok));
    h.push(op(5, "read", json!(1), 500, 510, Outcome::Ok));
    let res = check(h);
    assert_eq!(res.valid, Validity::Invalid, "{}", res.summary);
}
