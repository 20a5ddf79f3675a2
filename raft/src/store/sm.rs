//! The state machine: [`HubState`] in memory, its durable copy in snapshot files and the log.
//!
//! `apply` runs the pure [`HubState::apply`] under the write lock and writes nothing: the
//! Raft log is the durable record. Restart loads the newest snapshot and openraft re-applies
//! the committed log after it. A snapshot is taken when the tail to re-apply reaches half the
//! state's rows (up to 50 % more, staggered by replica; [`SnapshotDue`]), so a restart costs
//! less than two snapshot loads, and the snapshots cost about two row encodes per command in
//! the long run.
//!
//! Until 2026-12 every apply also wrote its rows to a sled tree (`sm`). At 64 clients that
//! was about a quarter of a follower's CPU (sled's per-row insert cost, its IO-buffer writes)
//! for no durability the log did not already give; without it a 3-replica cluster commits
//! ~30 % more writes per second (docs/benchmarks.md). A data dir from then is converted on open ([`migrate_rows`]).

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};
use parking_lot::RwLock;
use tokio::sync::watch;

use super::snapshot::{decode_file, SnapshotDir};
use crate::command::Command;
use crate::command::Response;
use crate::state::{Dirty, HubState, ImageRef, Key};
use crate::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// A snapshot is due at least once this many commands were applied after the last one, even
/// for a small state: tiny snapshots are cheap, and replaying 10,000 commands is quick.
pub const MIN_TAIL: u64 = 10_000;

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
    due: SnapshotDue,
    snapshots: Arc<SnapshotDir>,
    applied_tx: Arc<watch::Sender<Applied>>,
    routes_version: Arc<AtomicU64>,
    servers_version: Arc<AtomicU64>,
    snapshot_seq: Arc<AtomicU64>,
}

/// Whether the log tail since the newest snapshot is long enough to take another: at least
/// [`MIN_TAIL`] commands, and at least half as many as the state has rows (up to 50 % more,
/// staggered by replica). Cheap to clone.
#[derive(Clone)]
pub struct SnapshotDue {
    state: Arc<RwLock<HubState>>,
    /// Commands (and membership entries) applied since this process opened the store, or
    /// rows they touched where that is more.
    applied: Arc<AtomicU64>,
    /// The value of `applied` the newest snapshot covers.
    covered: Arc<AtomicU64>,
}

impl SnapshotDue {
    /// Commands applied since the newest snapshot.
    pub fn tail(&self) -> u64 {
        let applied = self.applied.load(Ordering::Acquire);
        applied.saturating_sub(self.covered.load(Ordering::Acquire))
    }

    /// `place`: this replica's place among the replicas (its id, say). Replicas apply the same
    /// commands, so with one threshold they would all encode their snapshot at the same moment
    /// and share the machine's (or the cluster's) worst second. Places 1, 2, 0 (mod 3) wait
    /// for 0, 25 and 50 % more tail, which spreads them seconds apart under load.
    pub fn is_due(&self, place: u64) -> bool {
        let stretch = |x: u64| x + x * ((place + 2) % 3) / 4;
        let tail = self.tail();
        tail >= stretch(MIN_TAIL) && tail >= stretch(self.state.read().row_count() as u64 / 2)
    }
}

impl StateMachineStore {
    pub(super) fn load(
        tree: sled::Tree,
        snapshots: SnapshotDir,
    ) -> Result<StateMachineStore, super::OpenError> {
        let mut state = match snapshots.read_latest().map_err(super::OpenError::Io)? {
            Some(bytes) => {
                let (meta, image) = decode_file(&bytes)
                    .map_err(|e| super::OpenError::Snapshot(SnapshotDecodeError::from(e)))?;
                state_of(&meta, &image).map_err(super::OpenError::Snapshot)?
            }
            None => HubState::default(),
        };
        migrate_rows(&tree, &snapshots, &mut state)?;
        let applied = Applied {
            index: state.last_applied().map(|l| l.index).unwrap_or(0),
            routes_version: 1,
            servers_version: 1,
        };
        let state = Arc::new(RwLock::new(state));
        Ok(StateMachineStore {
            due: SnapshotDue {
                state: state.clone(),
                applied: Arc::default(),
                covered: Arc::default(),
            },
            state,
            snapshots: Arc::new(snapshots),
            applied_tx: Arc::new(watch::channel(applied).0),
            routes_version: Arc::new(AtomicU64::new(1)),
            servers_version: Arc::new(AtomicU64::new(1)),
            snapshot_seq: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The snapshot trigger's view of this store.
    pub fn snapshot_due(&self) -> SnapshotDue {
        self.due.clone()
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
        let mut dirty = Dirty::new();
        let mut responses = Vec::new();
        let mut servers_changed = false;
        let mut commands = 0u64;
        {
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
                        commands += req.items.len() as u64;
                        let outcomes = req.items.iter().map(|p| s.apply(p, &mut dirty)).collect();
                        responses.push(Response { outcomes });
                    }
                    EntryPayload::Membership(m) => {
                        s.membership = StoredMembership::new(Some(e.log_id), m);
                        servers_changed = true;
                        commands += 1;
                        responses.push(Response::default());
                    }
                }
            }
            // Under the lock, so a snapshot's copy and its count agree. Re-applying costs
            // about one row per command, or per row a batch command (create 1,000 users)
            // touched.
            let cost = commands.max(dirty.len() as u64);
            self.due.applied.fetch_add(cost, Ordering::AcqRel);
        }
        let routes_changed = dirty.iter().any(|k| matches!(k, Key::Route(_)));
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
        let (file_meta, image) =
            decode_file(&bytes).map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?;
        let mut state = state_of(&file_meta, &image)
            .map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?;
        drop(image);
        state.last_applied = meta.last_log_id;
        state.membership = meta.last_membership.clone();
        // Durable before it replaces the state: a restart must find it, as the log it
        // replaces may be purged.
        let snaps = self.snapshots.clone();
        let (m, b) = (meta.clone(), bytes);
        tokio::task::spawn_blocking(move || snaps.write(&m, &b))
            .await
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        {
            let mut cur = self.state.write();
            state.continue_authz_epoch(&cur);
            *cur = state;
            // The snapshot covers everything applied so far.
            let applied = self.due.applied.load(Ordering::Acquire);
            self.due.covered.store(applied, Ordering::Release);
        }
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
        let (meta, _) = decode_file(&bytes).map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        // Copy under the lock (cheap: persistent tables), encode outside it. Applies take the
        // write lock, so `covered` counts exactly the commands in the copy.
        let (tables, covered) = {
            let s = self.state.read();
            (s.persisted_copy(), self.due.applied.load(Ordering::Acquire))
        };
        let (last_log_id, membership) = (tables.last_applied(), tables.membership().clone());
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
        let sig = Some(meta.signature());
        let snaps = self.snapshots.clone();
        let m = meta.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Encoding the whole state is the one large piece of CPU work a replica does outside
        // requests, and all replicas reach it at about the same time: on a busy machine it ran
        // at the priority of the write path and stalled it for hundreds of milliseconds. It
        // runs on its own thread at a lower priority (nice +10), so it takes the CPU the write
        // path leaves and finishes a little later.
        std::thread::Builder::new()
            .name("sm-snapshot".into())
            .spawn(move || {
                lower_priority();
                let t0 = std::time::Instant::now();
                let mut rows = 0;
                let res = snaps.write_with(&m, |w| {
                    rows = tables.write_image(w)?;
                    Ok(())
                });
                drop(tables);
                if let Ok(bytes) = &res {
                    tracing::info!(
                        index = m.last_log_id.map(|l| l.index),
                        rows,
                        bytes,
                        ms = t0.elapsed().as_millis() as u64,
                        "snapshot written"
                    );
                }
                let _ = tx.send(res);
            })
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        rx.await
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        self.due.covered.fetch_max(covered, Ordering::AcqRel);
        // The data stays in the file: openraft 0.9 keeps only the metadata of a snapshot it
        // had built (core/sm/worker.rs), and reads the file through `get_current_snapshot`
        // when a follower needs it.
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(Vec::new())),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotDecodeError {
    #[error("{0}")]
    Envelope(#[from] rmp_serde::decode::Error),
    #[error("{0}")]
    Image(#[from] crate::state::image::DecodeError),
}

/// Lowers the calling thread's CPU priority (Linux `setpriority` on a thread id affects that
/// thread only). Best effort: at the default priority the snapshot is only slower to yield.
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), 10) {
        tracing::debug!(error = %e, "lowering the snapshot thread's priority failed");
    }
}

/// The state a snapshot file holds (its metadata and image, from [`decode_file`]).
fn state_of(meta: &SnapshotMeta, image: &[u8]) -> Result<HubState, SnapshotDecodeError> {
    let mut state = ImageRef::decode(image)?.into_state()?;
    state.last_applied = meta.last_log_id;
    state.membership = meta.last_membership.clone();
    Ok(state)
}

/// Converts a data dir from before 2026-12, whose state lived as rows in the `sm` tree: if the
/// rows are newer than the newest snapshot, they are written as a snapshot (durably) and
/// become the state; then the rows are deleted. A crash in between leaves a snapshot at least
/// as new as what is left of the rows, so the next open only finishes the deletion.
fn migrate_rows(
    tree: &sled::Tree,
    snapshots: &SnapshotDir,
    state: &mut HubState,
) -> Result<(), super::OpenError> {
    if tree.is_empty() {
        return Ok(());
    }
    let rows = tree
        .iter()
        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(super::OpenError::Sled)?;
    let from_rows = HubState::from_rows(rows).map_err(super::OpenError::Decode)?;
    if from_rows.last_applied() > state.last_applied() {
        let meta = SnapshotMeta {
            last_log_id: from_rows.last_applied(),
            last_membership: from_rows.membership().clone(),
            snapshot_id: "from-rows".into(),
        };
        snapshots
            .write_with(&meta, |w| from_rows.write_image(w).map(drop))
            .map_err(super::OpenError::Io)?;
        *state = from_rows;
    }
    tree.clear().map_err(super::OpenError::Sled)?;
    Ok(())
}
