//! What `rafthub cluster status` and the readiness check report about a replica.

use serde::{Deserialize, Serialize};

use super::Node;
use crate::types::NodeId;

/// How often [`Node::core_stopped`] looks at the core's state.
const CORE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub cluster_addr: String,
    pub api_addr: String,
    /// Leader, Follower, Candidate or Learner.
    pub state: String,
    pub initialized: bool,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    /// Highest index this node knows to be committed.
    pub committed: Option<u64>,
    pub applied: Option<u64>,
    pub snapshot: Option<u64>,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    pub cluster_id: Option<String>,
    /// Milliseconds without a known leader, when longer than the election timeout.
    pub leaderless_ms: Option<u64>,
    /// Milliseconds since the last accepted message from a leader (absent from older
    /// replicas, and before the first one).
    #[serde(default)]
    pub leader_contact_ms: Option<u64>,
}

/// Alias kept for the bootstrap protocol, which asks peers for their status.
pub type PeerInfo = NodeStatus;

impl Node {
    pub async fn status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow().clone();
        let committed = self
            .raft
            .with_raft_state(|st| st.committed.map(|l| l.index))
            .await
            .ok()
            .flatten();
        let initialized = self.raft.is_initialized().await.unwrap_or(false);
        let me = self.cfg.me();
        NodeStatus {
            id: self.id,
            cluster_addr: me.cluster_addr.clone(),
            api_addr: me.api_addr.clone(),
            state: format!("{:?}", m.state),
            initialized,
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            committed,
            applied: m.last_applied.map(|l| l.index),
            snapshot: m.snapshot.map(|l| l.index),
            voters: m.membership_config.membership().voter_ids().collect(),
            learners: m.membership_config.membership().learner_ids().collect(),
            cluster_id: self.state().cluster_config().map(|c| c.cluster_id.clone()),
            leaderless_ms: self.leaderless_for().map(|d| d.as_millis() as u64),
            leader_contact_ms: self.leader_contact_ms(),
        }
    }
}

impl Node {
    /// The reason the Raft core stopped, if it has: a storage error (disk full, I/O error)
    /// is fatal to openraft, and a replica without its core can neither apply nor vote.
    /// Cheap (a watch borrow): the liveness probe asks it.
    pub fn core_failure(&self) -> Option<String> {
        match &self.raft.metrics().borrow().running_state {
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Resolves once the Raft core has stopped, with the reason. The process should exit
    /// then, so that its supervisor restarts it from its durable state: retrying a failed
    /// fsync in place is how data gets lost (the PostgreSQL fsync lesson).
    pub async fn core_stopped(&self) -> String {
        // Polled, not awaited on the metrics channel: openraft sends its metrics after every
        // batch of work, and the caller is the runtime's `block_on` thread, which every such
        // wake-up would have unparked (~1,000 context switches a second under writes).
        let mut rx = self.raft.metrics();
        let mut tick = tokio::time::interval(CORE_CHECK_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = &rx.borrow_and_update().running_state {
                return e.to_string();
            }
            if rx.has_changed().is_err() {
                return "the Raft core is gone".to_string();
            }
        }
    }
}
