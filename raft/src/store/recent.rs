//! The newest log entries, kept decoded for the replication streams.
//!
//! The leader's replication streams read back what was just appended, once per follower:
//! without this, each read was a sled range scan plus a msgpack decode of every entry (a
//! profile of the leader at 64 writing clients had it at ~4 % of its CPU). Entries share
//! their payload (`Request::items` is an `Arc`), so serving a read from here is a few
//! reference counts per entry.
//!
//! The cache always ends at the last appended entry and holds a contiguous run of indexes:
//! an append that does not follow the newest cached entry starts it afresh, a truncation
//! drops the entries it removes. It is bounded in entries and in encoded bytes.

use std::collections::VecDeque;

use parking_lot::Mutex;

use crate::types::Entry;

/// At most this many entries are kept.
const MAX_ENTRIES: usize = 1024;
/// At most this many encoded bytes are kept (the entries' size on disk).
const MAX_BYTES: usize = 2 << 20;

#[derive(Default)]
pub(super) struct Recent {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
}

impl Recent {
    /// Records an entry that was just written to the log, `size` its encoded length.
    pub(super) fn push(&self, e: Entry, size: usize) {
        let mut g = self.inner.lock();
        let follows = g
            .entries
            .back()
            .is_none_or(|(last, _)| last.log_id.index + 1 == e.log_id.index);
        if !follows {
            g.entries.clear();
            g.bytes = 0;
        }
        g.bytes += size;
        g.entries.push_back((e, size));
        while g.entries.len() > MAX_ENTRIES || (g.bytes > MAX_BYTES && g.entries.len() > 1) {
            if let Some((_, s)) = g.entries.pop_front() {
                g.bytes -= s;
            }
        }
    }

    /// Forgets the entries at and after `index` (a truncation of the log).
    pub(super) fn truncate_from(&self, index: u64) {
        let mut g = self.inner.lock();
        while g
            .entries
            .back()
            .is_some_and(|(e, _)| e.log_id.index >= index)
        {
            if let Some((_, s)) = g.entries.pop_back() {
                g.bytes -= s;
            }
        }
    }

    /// The entries `start..=end` that exist, if the cache covers `start` (nothing after the
    /// cache's last entry exists in the log). `None`: read the log.
    pub(super) fn get(&self, start: u64, end: u64) -> Option<Vec<Entry>> {
        let g = self.inner.lock();
        let first = g.entries.front()?.0.log_id.index;
        if start < first {
            return None;
        }
        let skip = usize::try_from(start - first).ok()?;
        let take =
            usize::try_from(end.saturating_sub(start).saturating_add(1)).unwrap_or(usize::MAX);
        Some(
            g.entries
                .iter()
                .skip(skip)
                .take(take)
                .map(|(e, _)| e.clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Request;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    fn entry(term: u64, index: u64) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(Request::default()),
        }
    }

    fn ids(v: Option<Vec<Entry>>) -> Option<Vec<(u64, u64)>> {
        v.map(|v| {
            v.iter()
                .map(|e| (e.log_id.leader_id.term, e.log_id.index))
                .collect()
        })
    }

    #[test]
    fn serves_ranges_it_covers_and_nothing_else() {
        let r = Recent::default();
        assert_eq!(ids(r.get(1, 5)), None, "empty: read the log");
        for i in 5..=9 {
            r.push(entry(1, i), 10);
        }
        assert_eq!(ids(r.get(6, 7)), Some(vec![(1, 6), (1, 7)]));
        assert_eq!(ids(r.get(8, u64::MAX)), Some(vec![(1, 8), (1, 9)]));
        assert_eq!(
            ids(r.get(10, 20)),
            Some(vec![]),
            "past the end: nothing exists"
        );
        assert_eq!(ids(r.get(4, 6)), None, "before the cache: read the log");
    }

    #[test]
    fn a_truncation_drops_the_tail_and_a_gap_starts_afresh() {
        let r = Recent::default();
        for i in 1..=5 {
            r.push(entry(1, i), 10);
        }
        r.truncate_from(4);
        r.push(entry(2, 4), 10);
        assert_eq!(ids(r.get(3, 9)), Some(vec![(1, 3), (2, 4)]));
        // Not following the newest entry (e.g. after a snapshot install): start over.
        r.push(entry(3, 100), 10);
        assert_eq!(ids(r.get(3, 9)), None);
        assert_eq!(ids(r.get(100, 100)), Some(vec![(3, 100)]));
    }

    #[test]
    fn bounded_in_entries_and_bytes() {
        let r = Recent::default();
        for i in 1..=(MAX_ENTRIES as u64 + 10) {
            r.push(entry(1, i), 1);
        }
        assert_eq!(ids(r.get(10, 10)), None);
        assert_eq!(ids(r.get(11, 11)), Some(vec![(1, 11)]));
        let r = Recent::default();
        r.push(entry(1, 1), MAX_BYTES);
        r.push(entry(1, 2), 1);
        assert_eq!(
            ids(r.get(1, 2)),
            None,
            "over the byte bound: the oldest goes"
        );
        assert_eq!(ids(r.get(2, 2)), Some(vec![(1, 2)]));
    }
}
