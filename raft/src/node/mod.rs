//! A running replica: openraft plus everything around it that makes "any replica answers"
//! true.
//!
//! - [`write`]: writes are batched into Raft entries; a follower forwards its batch to the
//!   leader and answers once the entry is applied locally (read your own write); retries after
//!   a failover reuse the request ids, so nothing applies twice.
//! - [`read`]: linearizable read barriers (read index), on the leader or via the leader.
//! - [`bootstrap`]: guarded cluster initialization and joining.
//! - [`membership`]: add/remove members through the leader, one change at a time.
//! - [`cluster_api`]: the cluster port's HTTP routes.
//! - [`prompt_elect`]: after a leader crash, the most caught-up follower stands at once.

mod bootstrap;
pub mod cluster_api;
mod error;
mod membership;
pub mod prompt_elect;
mod read;
mod status;
mod step_down;
mod write;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLockReadGuard};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use error::{MembershipError, ReadError, WriteError};
pub use membership::MemberChange;
pub use status::{NodeStatus, PeerInfo};
pub use write::now_micros;

use crate::network::{ClusterClient, NetworkFactory, TlsConfig, TlsError};
use crate::state::HubState;
use crate::store::{Applied, SharedState, SnapshotDue, Store};
use crate::types::{NodeId, NodeInfo, Raft};

/// Election timeouts a write waits without a leader before answering `NoLeader`
/// (see [`Node::leaderless_for_writes`]).
pub const WRITE_ELECTION_ROUNDS: u32 = 3;

/// Everything a replica needs to know to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: NodeId,
    /// The initial cluster: every member's id and addresses, this node included.
    pub peers: BTreeMap<NodeId, NodeInfo>,
    pub secret: String,
    pub tls: Option<TlsConfig>,
    /// Source address for outgoing cluster connections.
    pub bind_ip: Option<IpAddr>,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    pub heartbeat: Duration,
    /// Build a snapshot (and purge the log) every this many entries.
    pub snapshot_every: u64,
    /// How long a write may take before it is reported as indeterminate.
    pub write_timeout: Duration,
    /// Ask the leader to add this node when it is not a member of an initialized cluster.
    pub auto_join: bool,
    /// Test-only: a shared fault table for in-process partition tests.
    pub faults: Option<Arc<crate::network::Faults>>,
}

impl NodeConfig {
    pub fn me(&self) -> &NodeInfo {
        &self.peers[&self.id]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("node {0} is not in the peer list")]
    NotInPeers(NodeId),
    #[error("invalid raft timing: {0}")]
    Config(#[from] openraft::ConfigError),
    #[error("cluster TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("raft failed to start: {0}")]
    Raft(String),
}

/// A running replica. Cheap to share as `Arc<Node>`.
pub struct Node {
    pub id: NodeId,
    raft: Raft,
    shared: SharedState,
    client: ClusterClient,
    cfg: NodeConfig,
    proposals: mpsc::Sender<write::Pending>,
    membership_lock: tokio::sync::Mutex<()>,
    /// Last instant a leader was known (and, for ourselves, confirmed by a quorum).
    leader_seen: Mutex<Instant>,
    /// Last instant this node, as leader, confirmed its leadership with a quorum round.
    lease_confirmed: Mutex<Option<Instant>>,
    /// Last accepted AppendEntries from a leader (`prompt_elect`).
    leader_contact: Mutex<Option<Instant>>,
    /// Handing leadership over before exiting (`step_down`): no proposals, no reads served
    /// as leader, and `is_leader` is false so the hub's leader-only work stops.
    stepping_down: std::sync::atomic::AtomicBool,
    shutdown: watch::Sender<bool>,
}

impl Node {
    /// Starts openraft on `store` and the node's background tasks (write batcher, leader
    /// tracking, guarded bootstrap).
    pub async fn start(cfg: NodeConfig, store: Store) -> Result<Arc<Node>, StartError> {
        if !cfg.peers.contains_key(&cfg.id) {
            return Err(StartError::NotInPeers(cfg.id));
        }
        let mut client = ClusterClient::new(&cfg.secret, cfg.bind_ip, cfg.tls.as_ref())?;
        if let Some(f) = &cfg.faults {
            client = client.with_faults(&cfg.peers[&cfg.id].cluster_addr, f.clone());
        }
        let raft_cfg = openraft::Config {
            cluster_name: "rafthub".into(),
            election_timeout_min: cfg.election_timeout_min.as_millis() as u64,
            election_timeout_max: cfg.election_timeout_max.as_millis() as u64,
            heartbeat_interval: cfg.heartbeat.as_millis() as u64,
            install_snapshot_timeout: 2000,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.snapshot_every),
            // Keep some log after a snapshot so briefly lagging followers replay instead of
            // receiving a whole snapshot.
            max_in_snapshot_log_to_keep: cfg.snapshot_every.min(1000),
            // A follower this far behind is caught up by snapshot instead of log replay.
            replication_lag_threshold: cfg.snapshot_every.max(1000),
            ..Default::default()
        }
        .validate()?;
        let shared = store.sm.shared();
        let due = store.sm.snapshot_due();
        let raft = Raft::new(
            cfg.id,
            Arc::new(raft_cfg),
            NetworkFactory::new(client.clone()),
            store.log,
            store.sm,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let (tx, rx) = mpsc::channel(65536);
        let node = Arc::new(Node {
            id: cfg.id,
            raft,
            shared,
            client,
            cfg,
            proposals: tx,
            membership_lock: tokio::sync::Mutex::new(()),
            leader_seen: Mutex::new(Instant::now()),
            lease_confirmed: Mutex::new(None),
            leader_contact: Mutex::new(None),
            stepping_down: Default::default(),
            shutdown: watch::channel(false).0,
        });
        tokio::spawn(write::batcher(Arc::downgrade(&node), rx));
        tokio::spawn(track_leader(Arc::downgrade(&node)));
        tokio::spawn(prompt_elect::watch(Arc::downgrade(&node)));
        tokio::spawn(bootstrap::run(Arc::downgrade(&node)));
        tokio::spawn(snapshot_when_due(Arc::downgrade(&node), due));
        Ok(node)
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// The applied state, for local reads. Hold the guard briefly: applies wait for it.
    pub fn state(&self) -> RwLockReadGuard<'_, HubState> {
        self.shared.state.read()
    }

    /// Watch of the last applied index and the route table version.
    pub fn applied(&self) -> watch::Receiver<Applied> {
        self.shared.applied.clone()
    }

    pub fn current_leader(&self) -> Option<NodeId> {
        // The server metrics change only with the vote, role, leader or membership; the full
        // metrics are rewritten after every batch, so their lock is the contended one.
        self.raft.server_metrics().borrow().current_leader
    }

    pub fn is_leader(&self) -> bool {
        self.current_leader() == Some(self.id) && !self.stepping_down()
    }

    /// How long no leader has been known, if longer than the election timeout. Readers use it
    /// to flag possibly stale answers; readiness reports it.
    pub fn leaderless_for(&self) -> Option<Duration> {
        self.leaderless_longer_than(self.cfg.election_timeout_max)
    }

    /// How long no leader has been known, if longer than writes wait for an election
    /// ([`WRITE_ELECTION_ROUNDS`] election timeouts): past that a write answers `NoLeader`.
    ///
    /// One election timeout is too short for writes. After the leader dies the survivors
    /// reject each other's votes until its lease runs out, and two candidates can split the
    /// vote, so a normal failover often spends two or three rounds without a leader; a write
    /// arriving then should wait for the winner, not answer 503. A node cut off from the
    /// majority still answers 503 quickly (a second or so, never the write timeout).
    pub fn leaderless_for_writes(&self) -> Option<Duration> {
        self.leaderless_longer_than(self.cfg.election_timeout_max * WRITE_ELECTION_ROUNDS)
    }

    fn leaderless_longer_than(&self, limit: Duration) -> Option<Duration> {
        if self.current_leader().is_some() {
            return None;
        }
        let since = self.leader_seen.lock().elapsed();
        (since > limit).then_some(since)
    }

    /// Address of a member's cluster port, from the replicated membership (or the peer list).
    pub fn cluster_addr(&self, id: NodeId) -> Option<String> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership()
            .get_node(&id)
            .map(|n| n.cluster_addr.clone())
            .or_else(|| self.cfg.peers.get(&id).map(|n| n.cluster_addr.clone()))
    }

    /// Stops background tasks and openraft.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        let _ = self.raft.shutdown().await;
    }

    fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Takes a snapshot once the log tail since the last one is long enough ([`SnapshotDue`]):
/// this bounds what a restart re-applies, whatever the write rate. (openraft's own policy,
/// every `snapshot_every` entries, stays as a bound on the log's length.)
async fn snapshot_when_due(node: std::sync::Weak<Node>, due: SnapshotDue) {
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Some(n) = node.upgrade() else { return };
        if n.is_shut_down() {
            return;
        }
        // openraft ignores the trigger while a snapshot is being built.
        if due.is_due(n.id) && n.raft.trigger().snapshot().await.is_err() {
            return;
        }
    }
}

/// Keeps `leader_seen` fresh from openraft's metrics.
async fn track_leader(node: std::sync::Weak<Node>) {
    let Some(mut rx) = node.upgrade().map(|n| n.raft.metrics()) else {
        return;
    };
    loop {
        {
            let Some(n) = node.upgrade() else { return };
            if rx.borrow().current_leader.is_some() {
                *n.leader_seen.lock() = Instant::now();
            }
        }
        // Wake at least every 100 ms so `leader_seen` never lags by more than that.
        match tokio::time::timeout(Duration::from_millis(100), rx.changed()).await {
            Ok(Err(_)) => return,
            _ => continue,
        }
    }
}
