//! The openraft type configuration and the identity of a replica.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::command::{Request, Response};

/// A replica's id. In a StatefulSet this is the pod ordinal plus one, so it never changes
/// across restarts of the same pod.
pub type NodeId = u64;

/// How to reach a replica. Stored in the Raft membership, so it is replicated: use stable
/// names (StatefulSet DNS names or fixed loopback addresses), never pod IPs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `host:port` of the cluster port (Raft RPCs and forwarded writes).
    pub cluster_addr: String,
    /// `host:port` of the hub API port, for operators and redirects.
    pub api_addr: String,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster={} api={}", self.cluster_addr, self.api_addr)
    }
}

openraft::declare_raft_types!(
    /// rafthub's Raft types: entries carry a batch of hub [`crate::Command`]s.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = NodeInfo,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, NodeInfo>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, NodeInfo>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
