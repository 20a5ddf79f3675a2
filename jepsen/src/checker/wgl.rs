//! Linearizability checking: the Wing–Gong algorithm with Lowe's memoization, as in
//! porcupine (`checkSingle`), over one independent history (one key).
//!
//! The history becomes a doubly linked list of call and return entries sorted by time. The
//! search repeatedly tries to linearize a call that is "minimal" (appears before every
//! pending return): if the model accepts it from the current state and the pair
//! (set of linearized calls, new state) was not explored before, the call and its return are
//! lifted out of the list and the search continues from the head. Reaching a return entry
//! means its call could not be placed: the search backtracks. An empty list is a witness
//! linearization; backtracking past the first call means there is none.
//!
//! Indeterminate operations (`info`: timed out, may have happened) have their return placed
//! after everything else, so they may take effect at any point after their call, or — for
//! operations that do not constrain the state, like a register write at the very end — never.

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    /// An operation together with its observed result.
    type Op: Debug;
    fn init(&self) -> Self::State;
    /// The state after `op` if `op` (with its observed result) is legal in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
}

/// One operation of the history. `ret: None` = indeterminate (never returned).
#[derive(Debug, Clone)]
pub struct Call<O> {
    pub op: O,
    pub call: u64,
    pub ret: Option<u64>,
}

/// Why a history is not linearizable, from the deepest point the search reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Counterexample<S> {
    /// Indices (into the input) of the longest linearizable prefix found, in order.
    pub prefix: Vec<usize>,
    /// The model state after that prefix.
    pub state: S,
    /// The operation whose return came before it could be linearized.
    pub stuck: usize,
    /// Operations that were candidates (called, not yet linearized) at that point; none of
    /// them could be applied next without contradicting a result or a cached dead end.
    pub candidates: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<S> {
    Linearizable,
    NotLinearizable(Box<Counterexample<S>>),
    /// The search hit its step budget (the history is too large or too concurrent).
    Unknown {
        steps: u64,
    },
}

const NIL: usize = usize::MAX;

struct Entries {
    /// For entry `e`: the index of its call in the input.
    call_of: Vec<usize>,
    /// For a call entry: its return entry. NIL for return entries.
    matching: Vec<usize>,
    prev: Vec<usize>,
    next: Vec<usize>,
    head: usize,
}

impl Entries {
    fn new<O>(calls: &[Call<O>]) -> Entries {
        // (time, 0 = call / 1 = return, call index). Calls sort before returns at equal
        // times: equal timestamps mean the order is unknown, so the ops count as concurrent.
        let mut ev: Vec<(u64, u8, usize)> = Vec::with_capacity(calls.len() * 2);
        for (i, c) in calls.iter().enumerate() {
            ev.push((c.call, 0, i));
            let ret = c.ret.unwrap_or(u64::MAX).max(c.call);
            ev.push((ret, 1, i));
        }
        ev.sort_unstable();
        let n = ev.len();
        let head = n;
        let mut call_of = vec![0; n + 1];
        let mut matching = vec![NIL; n + 1];
        let mut call_entry = vec![NIL; calls.len()];
        for (e, &(_, kind, i)) in ev.iter().enumerate() {
            call_of[e] = i;
            if kind == 0 {
                call_entry[i] = e;
            } else {
                matching[call_entry[i]] = e;
            }
        }
        let prev = (0..=n)
            .map(|e| {
                if e == 0 {
                    head
                } else if e == head {
                    NIL
                } else {
                    e - 1
                }
            })
            .collect();
        let next = (0..=n)
            .map(|e| {
                if e == head {
                    if n == 0 {
                        NIL
                    } else {
                        0
                    }
                } else if e + 1 < n {
                    e + 1
                } else {
                    NIL
                }
            })
            .collect();
        Entries {
            call_of,
            matching,
            prev,
            next,
            head,
        }
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != NIL {
            self.prev[n] = e;
        }
    }

    /// Removes a call and its return (dancing links: both keep their own pointers).
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.matching[call]);
    }

    fn unlift(&mut self, call: usize) {
        self.relink(self.matching[call]);
        self.relink(call);
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
}

/// Checks one independent history. `max_steps` bounds the search (each step tries one
/// entry); beyond it the verdict is `Unknown`.
pub fn check<M: Model>(model: &M, calls: &[Call<M::Op>], max_steps: u64) -> Verdict<M::State> {
    let mut list = Entries::new(calls);
    let mut state = model.init();
    let mut linearized = Bits(vec![0; calls.len().div_ceil(64).max(1)]);
    let mut cache: HashSet<(Bits, M::State)> = HashSet::new();
    // The search stack: (call entry, state before it).
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut best: Option<Counterexample<M::State>> = None;
    let mut steps = 0u64;
    let mut entry = list.next[list.head];
    while list.next[list.head] != NIL {
        steps += 1;
        if steps > max_steps {
            return Verdict::Unknown { steps };
        }
        let ret = list.matching[entry];
        if ret != NIL {
            let i = list.call_of[entry];
            if let Some(new_state) = model.step(&state, &calls[i].op) {
                let mut bits = linearized.clone();
                bits.set(i);
                if cache.insert((bits.clone(), new_state.clone())) {
                    stack.push((entry, std::mem::replace(&mut state, new_state)));
                    linearized = bits;
                    list.lift(entry);
                    entry = list.next[list.head];
                    continue;
                }
            }
            entry = list.next[entry];
        } else {
            // A return whose call is not linearized yet: remember the deepest dead end.
            if best.as_ref().is_none_or(|b| b.prefix.len() < stack.len()) {
                best = Some(dead_end(&list, &stack, &state, entry));
            }
            let Some((call, prev_state)) = stack.pop() else {
                let mut cx = best.unwrap_or_else(|| dead_end(&list, &stack, &state, entry));
                cx.prefix.shrink_to_fit();
                return Verdict::NotLinearizable(Box::new(cx));
            };
            state = prev_state;
            linearized.clear(list.call_of[call]);
            list.unlift(call);
            entry = list.next[call];
        }
    }
    Verdict::Linearizable
}

fn dead_end<S: Clone>(
    list: &Entries,
    stack: &[(usize, S)],
    state: &S,
    ret: usize,
) -> Counterexample<S> {
    let mut candidates = Vec::new();
    let mut e = list.next[list.head];
    while e != NIL && e != ret {
        if list.matching[e] != NIL {
            candidates.push(list.call_of[e]);
        }
        e = list.next[e];
    }
    Counterexample {
        prefix: stack.iter().map(|(e, _)| list.call_of[*e]).collect(),
        state: state.clone(),
        stuck: list.call_of[ret],
        candidates,
    }
}

/// A read/write register whose initial value is `None` (the property was never written).
#[derive(Debug, Clone, Copy, Default)]
pub struct Register;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOp {
    Write(i64),
    /// A read and the value it returned.
    Read(Option<i64>),
}

impl Model for Register {
    type State = Option<i64>;
    type Op = RegisterOp;

    fn init(&self) -> Option<i64> {
        None
    }

    fn step(&self, state: &Option<i64>, op: &RegisterOp) -> Option<Option<i64>> {
        match op {
            RegisterOp::Write(v) => Some(Some(*v)),
            RegisterOp::Read(v) => (v == state).then_some(*state),
        }
    }
}
