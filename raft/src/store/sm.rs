//! The state machine: [`HubState`] in memory, its rows in sled, snapshots in files.
//!
//! `apply` runs the pure [`HubState::apply`] under the write lock and marks the touched rows;
//! [`Rows`] writes them with the last-applied id in one atomic sled batch every few
//! milliseconds (not synced: the log is the durable record, and sled recovers a prefix, so a
//! lost suffix of rows is re-applied from the log on restart). Restart loads the rows into
//! memory: no per-user work beyond decoding.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};
use parking_lot::RwLock;
use tokio::sync::watch;

use super::rows::{rewrite_rows, Rows};
use super::snapshot::{SnapshotDir, SnapshotFile};
use super::sync::Syncer;
use super::{decode, encode};
use crate::command::Command;
use crate::command::Response;
use crate::state::{Dirty, HubState, Image, Key};
use crate::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// What readers outside Raft can watch: bumped after every apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Index of the last applied entry.
    pub index: u64,
    /// Bumped whenever the route table changed, so the proxy rebuilds only then.
    pub routes_version: u64,
    /// Bumped by every applied change except activity, so the controller's rounds follow
    /// spawns and stops, not the activity flushes of every replica.
    pub servers_version: u64,
}

/// Shared handle to the in-memory state; cheap to clone.
#[derive(Clone)]
pub struct SharedState {
    pub state: Arc<RwLock<HubState>>,
    pub applied: watch::Receiver<Applied>,
}

#[derive(Clone)]
pub struct StateMachineStore {
    state: Arc<RwLock<HubState>>,
    rows: Arc<Rows>,
    syncer: Arc<Syncer>,
    snapshots: Arc<SnapshotDir>,
    applied_tx: Arc<watch::Sender<Applied>>,
    routes_version: Arc<AtomicU64>,
    servers_version: Arc<AtomicU64>,
    snapshot_seq: Arc<AtomicU64>,
}

impl StateMachineStore {
    pub(super) fn load(
        tree: sled::Tree,
        syncer: Arc<Syncer>,
        snapshots: SnapshotDir,
    ) -> Result<StateMachineStore, super::OpenError> {
        let rows = tree
            .iter()
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(super::OpenError::Sled)?;
        let mut state = HubState::from_rows(rows).map_err(super::OpenError::Decode)?;
        if state.rows_need_rewrite() {
            rewrite_rows(&tree, &state).map_err(super::OpenError::Sled)?;
        }
        // If the snapshot file is ahead of the rows (rows lost to a crash after the log was
        // purged), the snapshot is the better starting point; the log tail replays after it.
        if let Some(bytes) = snapshots.read_latest().map_err(super::OpenError::Io)? {
            let file: SnapshotFile = decode(&bytes).map_err(super::OpenError::Snapshot)?;
            if file.meta.last_log_id > state.last_applied() {
                let image: Image = decode(&file.image).map_err(super::OpenError::Snapshot)?;
                state = image.into_state().map_err(super::OpenError::Decode)?;
                state.last_applied = file.meta.last_log_id;
                state.membership = file.meta.last_membership.clone();
                rewrite_rows(&tree, &state).map_err(super::OpenError::Sled)?;
            }
        }
        let applied = Applied {
            index: state.last_applied().map(|l| l.index).unwrap_or(0),
            routes_version: 1,
            servers_version: 1,
        };
        let state = Arc::new(RwLock::new(state));
        Ok(StateMachineStore {
            rows: Rows::start(tree, state.clone()),
            state,
            syncer,
            snapshots: Arc::new(snapshots),
            applied_tx: Arc::new(watch::channel(applied).0),
            routes_version: Arc::new(AtomicU64::new(1)),
            servers_version: Arc::new(AtomicU64::new(1)),
            snapshot_seq: Arc::new(AtomicU64::new(0)),
        })
    }

    #[cfg(test)]
    pub(super) fn rows_tree(&self) -> sled::Tree {
        self.rows.tree().clone()
    }

    pub fn shared(&self) -> SharedState {
        SharedState {
            state: self.state.clone(),
            applied: self.applied_tx.subscribe(),
        }
    }

    fn publish(&self, routes_changed: bool, servers_changed: bool) {
        let index = self
            .state
            .read()
            .last_applied()
            .map(|l| l.index)
            .unwrap_or(0);
        let rv = if routes_changed {
            self.routes_version.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.routes_version.load(Ordering::Acquire)
        };
        let sv = if servers_changed {
            self.servers_version.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.servers_version.load(Ordering::Acquire)
        };
        self.applied_tx.send_replace(Applied {
            index,
            routes_version: rv,
            servers_version: sv,
        });
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let s = self.state.read();
        Ok((s.last_applied(), s.membership().clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        if let Some(e) = self.rows.failure() {
            return Err(StorageIOError::write_state_machine(&std::io::Error::other(e)).into());
        }
        let mut dirty = Dirty::new();
        let mut responses = Vec::new();
        let mut servers_changed = false;
        let routes_changed;
        let write_now = {
            let mut s = self.state.write();
            for e in entries {
                s.last_applied = Some(e.log_id);
                match e.payload {
                    EntryPayload::Blank => responses.push(Response::default()),
                    EntryPayload::Normal(req) => {
                        servers_changed |= req
                            .items
                            .iter()
                            .any(|p| !matches!(p.cmd, Command::RecordActivity { .. }));
                        let outcomes = req.items.iter().map(|p| s.apply(p, &mut dirty)).collect();
                        responses.push(Response { outcomes });
                    }
                    EntryPayload::Membership(m) => {
                        s.membership = StoredMembership::new(Some(e.log_id), m);
                        servers_changed = true;
                        responses.push(Response::default());
                    }
                }
            }
            dirty.insert(Key::Meta);
            routes_changed = dirty.iter().any(|k| matches!(k, Key::Route(_)));
            self.rows.mark(dirty)
        };
        if write_now {
            self.rows
                .write()
                .map_err(|e| StorageIOError::write_state_machine(&e))?;
        }
        self.publish(routes_changed, servers_changed);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let sig = Some(meta.signature());
        let file: SnapshotFile =
            decode(&bytes).map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?;
        let image: Image =
            decode(&file.image).map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?;
        let mut state = image
            .into_state()
            .map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?;
        state.last_applied = meta.last_log_id;
        state.membership = meta.last_membership.clone();
        // File first: if we crash during the row rewrite, load() prefers the newer snapshot.
        let snaps = self.snapshots.clone();
        let (m, b) = (meta.clone(), bytes);
        tokio::task::spawn_blocking(move || snaps.write(&m, &b))
            .await
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        self.rows
            .rewrite(&state)
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        {
            let mut cur = self.state.write();
            state.continue_authz_epoch(&cur);
            *cur = state;
        }
        let s = self.syncer.clone();
        tokio::task::spawn_blocking(move || s.sync())
            .await
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        self.publish(true, true);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let snaps = self.snapshots.clone();
        let bytes = tokio::task::spawn_blocking(move || snaps.read_latest())
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        let Some(bytes) = bytes else { return Ok(None) };
        let file: SnapshotFile =
            decode(&bytes).map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(Some(Snapshot {
            meta: file.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        // Copy under the lock (cheap: persistent tables), encode outside it.
        let tables = self.state.read().persisted_copy();
        let (last_log_id, membership) = (tables.last_applied(), tables.membership().clone());
        let image = tokio::task::spawn_blocking(move || Image::of(&tables))
            .await
            .map_err(|e| StorageIOError::read_state_machine(&e))?;
        let seq = self.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match last_log_id {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, seq),
            None => format!("0-0-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership: membership,
            snapshot_id,
        };
        let file = SnapshotFile {
            meta: meta.clone(),
            image: encode(&image),
        };
        let bytes = encode(&file);
        let snaps = self.snapshots.clone();
        let (m, b) = (meta.clone(), bytes.clone());
        let sig = Some(meta.signature());
        tokio::task::spawn_blocking(move || snaps.write(&m, &b))
            .await
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}
