//! The request-id table that makes retried writes exactly-once (DESIGN invariant 3).
//!
//! A replica that forwarded a write and lost its answer (leader died, timeout) retries with the
//! same request id. If the first attempt did commit, `apply` finds the id here and returns the
//! first outcome instead of applying the command again, so a retried "create alice" answers
//! 201, not 409.
//!
//! Entries expire deterministically, driven by the proposers' timestamps carried in the log,
//! never by a local clock: an id is forgotten once a later proposal is more than
//! [`WINDOW_US`] newer, or when the table exceeds [`CAP`] entries (oldest first). Retries
//! happen within a write timeout (seconds), far inside both bounds.

use std::collections::{HashMap, VecDeque};

use super::{Dirty, Key};
use crate::command::{Outcome, ReqId};
use crate::state::model::Ts;

/// How long an id is remembered, in proposer time.
pub const WINDOW_US: Ts = 120 * 1_000_000;
/// Upper bound on remembered ids, whatever the write rate.
pub const CAP: usize = 200_000;

/// Entries are kept in apply order (`seq`), which is the same on every replica; the order is
/// persisted so a restarted replica evicts exactly what the others evict.
#[derive(Debug, Clone, Default)]
pub struct Dedup {
    outcomes: HashMap<ReqId, DedupEntry>,
    order: VecDeque<(Ts, ReqId)>,
    newest: Ts,
    next_seq: u64,
}

/// One remembered outcome, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DedupEntry {
    pub seq: u64,
    pub ts: Ts,
    pub outcome: Outcome,
}

impl Dedup {
    pub fn get(&self, id: ReqId) -> Option<&Outcome> {
        self.outcomes.get(&id).map(|e| &e.outcome)
    }

    pub fn len(&self) -> usize {
        self.outcomes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }

    pub fn record(&mut self, id: ReqId, now: Ts, outcome: Outcome, dirty: &mut Dirty) {
        self.newest = self.newest.max(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.outcomes.insert(
            id,
            DedupEntry {
                seq,
                ts: now,
                outcome,
            },
        );
        self.order.push_back((now, id));
        dirty.insert(Key::Dedup(id));
        let horizon = self.newest - WINDOW_US;
        while let Some(&(ts, old)) = self.order.front() {
            if ts >= horizon && self.order.len() <= CAP {
                break;
            }
            self.order.pop_front();
            self.outcomes.remove(&old);
            dirty.insert(Key::Dedup(old));
        }
    }

    /// Entries in apply order, for snapshots.
    pub fn entries(&self) -> impl Iterator<Item = (ReqId, &DedupEntry)> + '_ {
        self.order
            .iter()
            .filter_map(|(_, id)| self.outcomes.get(id).map(|e| (*id, e)))
    }

    pub fn entry(&self, id: ReqId) -> Option<&DedupEntry> {
        self.outcomes.get(&id)
    }

    /// Rebuilds the table from persisted entries (any order; `seq` restores apply order).
    pub fn from_entries(mut entries: Vec<(ReqId, DedupEntry)>) -> Self {
        entries.sort_by_key(|(_, e)| e.seq);
        let mut d = Dedup::default();
        for (id, e) in entries {
            d.newest = d.newest.max(e.ts);
            d.next_seq = d.next_seq.max(e.seq + 1);
            d.order.push_back((e.ts, id));
            d.outcomes.insert(id, e);
        }
        d
    }
}
