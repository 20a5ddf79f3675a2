//! Typed errors at the node's API edge. The HTTP layer maps each variant to a status.

use serde::{Deserialize, Serialize};

use crate::types::NodeId;

/// Why a write was not (or not certainly) carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum WriteError {
    /// This replica is not the leader; the leader is known. Returned by the cluster propose
    /// endpoint so the forwarding replica can retry at the right place.
    #[error("not the leader; the leader is node {leader_id} at {leader_addr}")]
    ForwardToLeader {
        leader_id: NodeId,
        leader_addr: String,
    },
    /// No leader has been known for longer than the election timeout (maps to 503).
    #[error("no leader is known: the cluster has no quorum reachable from this replica (for {since_ms} ms)")]
    NoLeader { since_ms: u64 },
    /// The write was sent but its fate is unknown (leader lost mid-write, timeout). A retry
    /// with the same request ids is safe. Maps to 503.
    #[error(
        "the write could not be confirmed within {timeout_ms} ms; its outcome is unknown, retry"
    )]
    Timeout { timeout_ms: u64 },
    /// A single command larger than a Raft entry may be (maps to 413).
    #[error("request too large to replicate ({bytes} bytes, limit {limit})")]
    TooLarge { bytes: usize, limit: usize },
    /// The node is shutting down or its storage failed (maps to 503).
    #[error("this replica cannot write: {0}")]
    Unavailable(String),
}

/// Why a linearizable read barrier failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ReadError {
    #[error("no leader is known: a linearizable read needs the leader (for {since_ms} ms)")]
    NoLeader { since_ms: u64 },
    #[error("the leader could not confirm its leadership within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("this replica cannot read: {0}")]
    Unavailable(String),
}

/// Why a membership change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MembershipError {
    #[error("another membership change is in progress; changes are made one at a time")]
    Busy,
    #[error("node {0} is not a member")]
    NotMember(NodeId),
    #[error("refusing to remove node {0}: it would leave fewer than one voter")]
    LastVoter(NodeId),
    #[error("membership change failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Write(#[from] WriteError),
}
