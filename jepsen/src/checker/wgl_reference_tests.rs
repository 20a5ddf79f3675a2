//! Cross-check of the WGL search against a brute-force reference on thousands of small
//! random histories: both verdicts must agree, and both must occur often.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::wgl::{Call, Model, Register, RegisterOp};
use super::wgl_tests::{linearizable, r, w, w_info};

/// Reference: tries every order that respects real time (a before b when a returned
/// strictly before b was called), with each indeterminate op either included or dropped.
fn brute_force(calls: &[Call<RegisterOp>]) -> bool {
    fn go(calls: &[Call<RegisterOp>], used: &mut Vec<bool>, state: Option<i64>) -> bool {
        // Done when every determinate op is placed (indeterminate ones may be dropped).
        if calls
            .iter()
            .zip(used.iter())
            .all(|(c, u)| *u || c.ret.is_none())
        {
            return true;
        }
        for i in 0..calls.len() {
            if used[i] {
                continue;
            }
            // i may go next only if no unplaced determinate op returned before i was called.
            let blocked = calls
                .iter()
                .enumerate()
                .any(|(j, c)| !used[j] && j != i && c.ret.is_some_and(|r| r < calls[i].call));
            if blocked {
                continue;
            }
            if let Some(s) = Register.step(&state, &calls[i].op) {
                used[i] = true;
                if go(calls, used, s) {
                    return true;
                }
                used[i] = false;
            }
        }
        false
    }
    go(calls, &mut vec![false; calls.len()], None)
}

#[test]
fn agrees_with_brute_force_on_random_small_histories() {
    let mut rng = StdRng::seed_from_u64(7);
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..3000 {
        let n = rng.gen_range(1..=7);
        let calls: Vec<Call<RegisterOp>> = (0..n)
            .map(|_| {
                let call = rng.gen_range(0..40);
                let ret = call + rng.gen_range(0..15);
                match rng.gen_range(0..10) {
                    0..=3 => r(
                        if rng.gen_bool(0.2) {
                            None
                        } else {
                            Some(rng.gen_range(1..4))
                        },
                        call,
                        ret,
                    ),
                    4..=8 => w(rng.gen_range(1..4), call, ret),
                    _ => w_info(rng.gen_range(1..4), call),
                }
            })
            .collect();
        let expected = brute_force(&calls);
        assert_eq!(linearizable(&calls), expected, "{calls:?}");
        if expected {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    // Both verdicts must be well represented for the comparison to mean anything.
    assert!(
        valid > 500 && invalid > 500,
        "valid {valid}, invalid {invalid}"
    );
}
