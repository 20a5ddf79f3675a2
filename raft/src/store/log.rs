//! The Raft log on sled.
//!
//! One tree (`raft`) holds the entries (`L` + big-endian index) and the metadata (`Mvote`,
//! `Mpurged`, `Mcommitted`). Appends become readable at once and durable when the flusher
//! thread has synced (group commit, see [`super::sync`]); votes and truncations are synced
//! before returning.
//!
//! A purge writes `Mpurged` at once and deletes the entries behind it in the background, in
//! small batches: deleting the ~20,000 entries a snapshot frees in one sled batch held sled's
//! write lock, and openraft's core with it, for a third of a second, stalling every write.
//! Entries at or below the purge mark are never read (reads start after it) and a later purge
//! sweeps any that a crash left behind.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader, StorageIOError};

use super::recent::Recent;
use super::sync::{Flusher, Syncer};
use super::{decode, encode};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const K_VOTE: &[u8] = b"Mvote";
const K_PURGED: &[u8] = b"Mpurged";
const K_COMMITTED: &[u8] = b"Mcommitted";

/// Largest encoded log entry accepted. Keeps 17 entries of a sled leaf far below the blob
/// threshold (segment size / 4), so entries stay in sled's synced log file.
pub const MAX_ENTRY_BYTES: usize = 96 * 1024;

fn entry_key(index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'L';
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn key_index(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[1..9]);
    u64::from_be_bytes(b)
}

/// Entries deleted per sled batch by a background purge.
const PURGE_CHUNK: usize = 512;

/// Cloneable reader used by openraft's replication tasks.
#[derive(Clone)]
pub struct LogReader {
    tree: sled::Tree,
    /// First index not purged: reads never return entries below it, even while the
    /// background purge is still deleting them.
    first: Arc<AtomicU64>,
    recent: Arc<Recent>,
}

impl LogReader {
    fn read_range<RB: RangeBounds<u64>>(&self, range: RB) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .max(self.first.load(Ordering::Acquire));
        let last = match range.end_bound() {
            Bound::Included(i) => Some(*i),
            Bound::Excluded(i) => i.checked_sub(1),
            Bound::Unbounded => Some(u64::MAX),
        };
        let Some(last) = last.filter(|l| *l >= start) else {
            return Ok(Vec::new());
        };
        if let Some(hit) = self.recent.get(start, last) {
            return Ok(hit);
        }
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(entry_key(*i)),
            Bound::Excluded(i) => Bound::Excluded(entry_key(*i)),
            Bound::Unbounded => Bound::Included(entry_key(u64::MAX)),
        };
        let mut out = Vec::new();
        for kv in self.tree.range((Bound::Included(entry_key(start)), end)) {
            let (k, v) = kv.map_err(|e| StorageIOError::read_logs(&e))?;
            let e: Entry =
                decode(&v).map_err(|e| StorageIOError::read_log_at_index(key_index(&k), &e))?;
            out.push(e);
        }
        Ok(out)
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read_range(range)
    }
}

pub struct LogStore {
    tree: sled::Tree,
    syncer: Arc<Syncer>,
    flusher: Flusher,
    first: Arc<AtomicU64>,
    /// Serialises background purges (each sweeps everything up to its mark).
    purging: Arc<parking_lot::Mutex<()>>,
    recent: Arc<Recent>,
}

impl LogStore {
    pub(super) fn new(
        tree: sled::Tree,
        syncer: Arc<Syncer>,
        flusher: Flusher,
    ) -> Result<Self, super::OpenError> {
        let purged: Option<LogId> = match tree.get(K_PURGED).map_err(super::OpenError::Sled)? {
            None => None,
            Some(v) => decode(&v).map_err(super::OpenError::LogMeta)?,
        };
        let store = LogStore {
            tree,
            syncer,
            flusher,
            first: Arc::new(AtomicU64::new(purged.map_or(0, |l| l.index + 1))),
            purging: Arc::new(parking_lot::Mutex::new(())),
            recent: Arc::default(),
        };
        // Sweep what a crash during a background purge left behind.
        if let Some(p) = purged {
            store.spawn_purge(p.index);
        }
        Ok(store)
    }

    /// Writes an entry as `append` does, without openraft's flush callback.
    #[cfg(test)]
    pub(super) fn insert_for_test(&self, e: &Entry) {
        self.tree
            .insert(entry_key(e.log_id.index), encode(e))
            .expect("insert");
    }

    fn reader(&self) -> LogReader {
        LogReader {
            tree: self.tree.clone(),
            first: self.first.clone(),
            recent: self.recent.clone(),
        }
    }

    /// Deletes every entry up to `index` in the background, in small batches.
    fn spawn_purge(&self, index: u64) {
        let (tree, lock) = (self.tree.clone(), self.purging.clone());
        let run = move || {
            let _one = lock.lock();
            if let Err(e) = delete_up_to(&tree, index) {
                tracing::warn!(error = %e, "deleting purged log entries failed; the next purge retries");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => drop(h.spawn_blocking(run)),
            Err(_) => run(),
        }
    }

    fn get_meta<T: for<'a> serde::Deserialize<'a>>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        match self.tree.get(key).map_err(|e| StorageIOError::read(&e))? {
            None => Ok(None),
            Some(v) => Ok(Some(decode(&v).map_err(|e| StorageIOError::read(&e))?)),
        }
    }

    /// Runs a blocking durable operation off the async runtime.
    async fn sync_now(&self) -> Result<(), std::io::Error> {
        let s = self.syncer.clone();
        tokio::task::spawn_blocking(move || s.sync())
            .await
            .map_err(std::io::Error::other)?
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let last = self
            .tree
            .range(entry_key(0)..=entry_key(u64::MAX))
            .next_back()
            .transpose()
            .map_err(|e| StorageIOError::read_logs(&e))?;
        match last {
            None => Ok(None),
            Some((_, v)) => {
                let e: Entry = decode(&v).map_err(|e| StorageIOError::read_logs(&e))?;
                Ok(Some(e.log_id))
            }
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.reader().read_range(range)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get_meta(K_PURGED)?;
        // An entry at or below the mark may still wait for the background purge.
        let last = self.last_entry_id()?.max(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.tree
            .insert(K_VOTE, encode(vote))
            .map_err(|e| StorageIOError::write_vote(&e))?;
        self.sync_now()
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get_meta(K_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not synced: it only shortens replay after a restart; losing it is harmless.
        self.tree
            .insert(K_COMMITTED, encode(&committed))
            .map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_meta::<Option<LogId>>(K_COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        for e in entries {
            let bytes = encode(&e);
            if bytes.len() > MAX_ENTRY_BYTES {
                // The proposer splits batches to stay under the cap; a larger entry here is a
                // bug, and writing it could land in an unsynced blob file.
                return Err(StorageIOError::write_log_entry(
                    e.log_id,
                    &std::io::Error::other(format!(
                        "entry of {} bytes exceeds the cap",
                        bytes.len()
                    )),
                )
                .into());
            }
            let size = bytes.len();
            self.tree
                .insert(entry_key(e.log_id.index), bytes)
                .map_err(|e| StorageIOError::write_logs(&e))?;
            self.recent.push(e, size);
        }
        // Readable now; durable (and acknowledged to openraft) after the next group sync.
        self.flusher
            .after_sync(Box::new(move |r: std::io::Result<()>| {
                callback.log_io_completed(r)
            }));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The cache first: a read never sees an entry the log no longer has.
        self.recent.truncate_from(log_id.index);
        let mut batch = sled::Batch::default();
        for k in self
            .tree
            .range(entry_key(log_id.index)..=entry_key(u64::MAX))
            .keys()
        {
            batch.remove(k.map_err(|e| StorageIOError::write_logs(&e))?);
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.sync_now()
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.tree
            .insert(K_PURGED, encode(&Some(log_id)))
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.first.fetch_max(log_id.index + 1, Ordering::AcqRel);
        self.spawn_purge(log_id.index);
        Ok(())
    }
}

/// Deletes the entries up to `index`, [`PURGE_CHUNK`] per batch, so appends are never held
/// up for long.
fn delete_up_to(tree: &sled::Tree, index: u64) -> sled::Result<()> {
    loop {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for k in tree
            .range(entry_key(0)..=entry_key(index))
            .keys()
            .take(PURGE_CHUNK)
        {
            batch.remove(k?);
            n += 1;
        }
        if n == 0 {
            return Ok(());
        }
        tree.apply_batch(batch)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(index: u64) -> Entry {
        openraft::Entry {
            log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
            payload: openraft::EntryPayload::Blank,
        }
    }

    fn entries_left(tree: &sled::Tree) -> usize {
        tree.range(entry_key(0)..=entry_key(u64::MAX)).count()
    }

    async fn wait_for_count(tree: &sled::Tree, n: usize) {
        for _ in 0..500 {
            if entries_left(tree) == n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("expected {n} entries, found {}", entries_left(tree));
    }

    #[tokio::test]
    async fn purge_hides_entries_at_once_deletes_them_later_and_a_reopen_sweeps() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::open(dir.path(), 1).unwrap();
        let mut log = store.log;
        for i in 1..=3000 {
            log.tree.insert(entry_key(i), encode(&blank(i))).unwrap();
        }
        log.purge(blank(2500).log_id).await.unwrap();
        // Hidden at once, whatever the background deletion has done so far.
        let got = log.try_get_log_entries(..).await.unwrap();
        assert_eq!(got.first().map(|e| e.log_id.index), Some(2501));
        assert_eq!(got.len(), 500);
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(2500));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(3000));
        wait_for_count(&log.tree, 500).await;

        // A crash between the mark and the deletion leaves entries behind: the mark hides them
        // and the next open deletes them.
        for i in 1..=100 {
            log.tree.insert(entry_key(i), encode(&blank(i))).unwrap();
        }
        let tree = log.tree.clone();
        drop(log);
        drop(store.sm);
        drop(tree);
        let mut reopened = None;
        for _ in 0..100 {
            if let Ok(s) = super::super::open(dir.path(), 1) {
                reopened = Some(s);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut log = reopened.expect("reopen").log;
        let got = log.try_get_log_entries(..).await.unwrap();
        assert_eq!(got.first().map(|e| e.log_id.index), Some(2501));
        wait_for_count(&log.tree, 500).await;
    }
}
