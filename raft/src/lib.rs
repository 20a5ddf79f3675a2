//! Replicated hub state for rafthub.
//!
//! # Layout
//! - [`command`]: the [`Command`]s that change hub state, batched into Raft entries.
//! - [`state`]: the hub tables in memory and their pure, deterministic `apply`.
//! - [`store`]: the openraft storage: the log on sled with group commit, and snapshot files
//!   that with the log after them are the durable state. The only module here that touches the disk.
//! - [`network`]: Raft RPCs and forwarded writes over HTTP on the cluster port, authenticated
//!   by the cluster secret, optionally mTLS.
//! - [`node`]: a running replica: starts openraft, guards bootstrap, batches and forwards
//!   writes, serves linearizable reads, reports status.
//!
//! # Invariants
//! - `state` never does IO and never reads a clock: proposers fill in every timestamp, id and
//!   secret hash, so replaying the same log yields the same state everywhere.
//! - Nothing is acknowledged before it is durable: log appends are reported to openraft only
//!   after sled's flush plus an `fdatasync` of its file, done by one group-commit thread.

#![forbid(unsafe_code)]
// openraft's storage traits fix `StorageError` (224 bytes) as the error type; boxing it at
// every call site would only add noise.
#![allow(clippy::result_large_err)]

pub mod command;
pub mod network;
pub mod node;
pub mod state;
pub mod store;
pub mod types;

pub use command::{Command, Outcome, Proposal, ReqId, Request, Response};
pub use state::HubState;
pub use types::{NodeId, NodeInfo, TypeConfig};
