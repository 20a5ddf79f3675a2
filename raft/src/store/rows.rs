//! The state machine's rows in sled, written behind the applies in group batches.
//!
//! The rows are a checkpoint, not the durable record: the Raft log is. Restart loads the rows
//! and openraft replays the log after the last applied id they name. So rows need not be
//! written by every apply. Each sled `apply_batch` seals and writes sled's IO buffer twice
//! (the batch's begin and end marks), each write being a `pwrite` plus a waited-for
//! `sync_file_range` on sled's IO threads; one per apply was most of sled's IO at 64 clients.
//! Applies only record which keys changed ([`Rows::mark`]); a thread writes the changed rows
//! every [`WRITE_EVERY`] (or at once past [`MAX_PENDING`] keys) in one atomic batch that
//! includes the `Meta` row naming the last applied id the rows reflect.
//!
//! Invariant: a batch holds the current value of every key changed since the previous batch
//! and the `Meta` of the same state. The keys are taken and the rows encoded under the state's
//! read lock, and applies mark their keys under the write lock, so no apply falls between.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::state::{Dirty, HubState};

/// How far the rows may lag the applied state: at most this much log is replayed at restart
/// after a crash (a clean stop writes them).
pub const WRITE_EVERY: Duration = Duration::from_millis(20);
/// Changed keys that trigger a write from the apply itself, bounding memory and batch size.
const MAX_PENDING: usize = 8192;

pub(super) struct Rows {
    tree: sled::Tree,
    state: Arc<RwLock<HubState>>,
    /// Keys changed since the last batch.
    pending: Mutex<Dirty>,
    /// Held while writing rows: orders batches with each other and with a snapshot install's
    /// rewrite.
    writing: Mutex<()>,
    /// A failed row write: the next apply reports it (openraft then stops the node).
    failed: Mutex<Option<String>>,
}

impl Rows {
    /// The rows of `tree`, kept up to date with `state` by a background thread.
    pub(super) fn start(tree: sled::Tree, state: Arc<RwLock<HubState>>) -> Arc<Rows> {
        let rows = Arc::new(Rows {
            tree,
            state,
            pending: Mutex::new(Dirty::new()),
            writing: Mutex::new(()),
            failed: Mutex::new(None),
        });
        let weak = Arc::downgrade(&rows);
        std::thread::Builder::new()
            .name("sm-rows".into())
            .spawn(move || writer_loop(weak))
            .expect("spawning the state row writer");
        rows
    }

    /// Records keys an apply changed. Call with the state's write lock held.
    pub(super) fn mark(&self, dirty: Dirty) -> bool {
        let mut p = self.pending.lock();
        if p.is_empty() {
            *p = dirty;
        } else {
            p.extend(dirty);
        }
        p.len() >= MAX_PENDING
    }

    #[cfg(test)]
    pub(super) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// The error of a failed background write, if any.
    pub(super) fn failure(&self) -> Option<String> {
        self.failed.lock().clone()
    }

    /// Writes the rows changed since the last batch, if any.
    pub(super) fn write(&self) -> sled::Result<()> {
        let _w = self.writing.lock();
        let batch = {
            let s = self.state.read();
            let keys = std::mem::take(&mut *self.pending.lock());
            if keys.is_empty() {
                return Ok(());
            }
            // Every apply marks `Meta`, so the batch carries the last applied id of `s`.
            let mut batch = sled::Batch::default();
            for k in &keys {
                match s.encode_row(k) {
                    Some(v) => batch.insert(k.encode(), v),
                    None => batch.remove(k.encode()),
                }
            }
            batch
        };
        self.tree.apply_batch(batch)
    }

    /// Replaces every row with the rows of `state` (a snapshot install), dropping the keys
    /// pending for the state it replaces.
    pub(super) fn rewrite(&self, state: &HubState) -> sled::Result<()> {
        let _w = self.writing.lock();
        self.pending.lock().clear();
        rewrite_rows(&self.tree, state)
    }
}

impl Drop for Rows {
    /// A clean stop leaves the rows current, so the next start replays nothing.
    fn drop(&mut self) {
        if let Err(e) = self.write() {
            tracing::warn!(error = %e, "writing the state rows at shutdown failed");
        }
    }
}

fn writer_loop(rows: Weak<Rows>) {
    loop {
        std::thread::sleep(WRITE_EVERY);
        let Some(r) = rows.upgrade() else { return };
        if r.failed.lock().is_some() {
            return;
        }
        if let Err(e) = r.write() {
            tracing::error!(error = %e, "writing the state rows failed");
            *r.failed.lock() = Some(e.to_string());
        }
    }
}

/// Replaces every row in the tree with the rows of `state`, atomically (one batch).
pub(super) fn rewrite_rows(tree: &sled::Tree, state: &HubState) -> sled::Result<()> {
    let rows = state.all_rows();
    let keep: std::collections::HashSet<&[u8]> = rows.iter().map(|(k, _)| k.as_slice()).collect();
    let mut batch = sled::Batch::default();
    for k in tree.iter().keys() {
        let k = k?;
        if !keep.contains(k.as_ref()) {
            batch.remove(k);
        }
    }
    for (k, v) in &rows {
        batch.insert(k.as_slice(), v.as_slice());
    }
    tree.apply_batch(batch)
}
