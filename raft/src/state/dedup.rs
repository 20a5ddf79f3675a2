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
//!
//! Persisted in buckets of [`BUCKET`] consecutive entries (one sled row each), not one row per
//! id: every write records an id and, in steady state, forgets one, so per-id rows made each
//! command cost two scattered sled updates on every replica, as much as the row it wrote.

use super::{Dirty, Key};
use crate::command::{Outcome, ReqId};
use crate::state::model::Ts;

/// How long an id is remembered, in proposer time.
pub const WINDOW_US: Ts = 120 * 1_000_000;
/// Upper bound on remembered ids, whatever the write rate.
pub const CAP: usize = 200_000;

/// Entries per persisted bucket row.
pub const BUCKET: u64 = 32;

/// Entries are kept in apply order (`seq`), which is the same on every replica; the order is
/// persisted so a restarted replica evicts exactly what the others evict.
#[derive(Debug, Clone, Default)]
pub struct Dedup {
    /// Persistent collections, so a snapshot copies the table in O(1) under the state lock.
    outcomes: imbl::HashMap<ReqId, DedupEntry>,
    /// `(seq, ts, id)` in increasing `seq`: records push at the back, expiry pops the front.
    order: imbl::Vector<(u64, Ts, ReqId)>,
    newest: Ts,
    next_seq: u64,
    /// Loaded from rows of the one-row-per-id format: the rows need a rewrite.
    pub(super) legacy_rows: bool,
}

/// One persisted bucket: the entries whose `seq / BUCKET` is the bucket number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DedupBucket {
    pub entries: Vec<(ReqId, DedupEntry)>,
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
        self.order.push_back((seq, now, id));
        dirty.insert(Key::Dedup(seq / BUCKET));
        let horizon = self.newest - WINDOW_US;
        while let Some(&(old_seq, ts, old)) = self.order.front() {
            if ts >= horizon && self.order.len() <= CAP {
                break;
            }
            self.order.pop_front();
            self.outcomes.remove(&old);
            dirty.insert(Key::Dedup(old_seq / BUCKET));
        }
    }

    /// The bucket numbers holding entries, in order, for a full rewrite or a snapshot.
    pub fn buckets(&self) -> impl Iterator<Item = u64> + '_ {
        let mut last = None;
        self.order.iter().filter_map(move |(seq, _, _)| {
            let b = seq / BUCKET;
            (last != Some(b)).then(|| {
                last = Some(b);
                b
            })
        })
    }

    /// The entries of bucket `b`, or `None` if it has none (its row is removed).
    pub fn bucket(&self, b: u64) -> Option<DedupBucket> {
        let (lo, hi) = (
            b.saturating_mul(BUCKET),
            b.saturating_add(1).saturating_mul(BUCKET),
        );
        // Sequence numbers are unique and increasing: found or not, this is the first >= lo.
        let start = self
            .order
            .binary_search_by_key(&lo, |(seq, _, _)| *seq)
            .unwrap_or_else(|i| i);
        let entries: Vec<(ReqId, DedupEntry)> = (start..self.order.len())
            .map_while(|i| self.order.get(i).filter(|(seq, _, _)| *seq < hi))
            .filter_map(|(_, _, id)| self.outcomes.get(id).map(|e| (*id, e.clone())))
            .collect();
        (!entries.is_empty()).then_some(DedupBucket { entries })
    }

    /// Rebuilds the table from persisted entries (any order; `seq` restores apply order).
    pub fn from_entries(mut entries: Vec<(ReqId, DedupEntry)>) -> Self {
        entries.sort_by_key(|(_, e)| e.seq);
        let mut d = Dedup::default();
        for (id, e) in entries {
            if d.outcomes.contains_key(&id) {
                continue;
            }
            d.newest = d.newest.max(e.ts);
            d.next_seq = d.next_seq.max(e.seq + 1);
            d.order.push_back((e.seq, e.ts, id));
            d.outcomes.insert(id, e);
        }
        d
    }
}
