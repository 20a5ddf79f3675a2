//! The cluster network: Raft RPCs and forwarded writes over HTTP on the cluster port.
//!
//! Every request carries the cluster secret in [`SECRET_HEADER`]; the server compares it in
//! constant time and answers 401 to anything else (DESIGN invariant 10). With TLS configured,
//! both sides present certificates signed by the cluster CA (mTLS). Outgoing sockets are bound
//! to the node's own address, so per-address firewall rules (partition tests) see the real
//! source of every packet.

mod client;
pub mod faults;
mod raft_net;
mod serve;
pub mod tls;

pub use client::{ClientError, ClusterClient};
pub use faults::Faults;
pub use raft_net::NetworkFactory;
pub use serve::serve_http;
pub use tls::{TlsConfig, TlsError};

/// Header carrying the shared cluster secret.
pub const SECRET_HEADER: &str = "x-rafthub-cluster-secret";

/// Content type of cluster RPC bodies (MessagePack).
pub const MSGPACK: &str = "application/msgpack";

/// Constant-time comparison of a presented secret with the configured one.
pub fn secret_matches(presented: &[u8], expected: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    // Lengths leak nothing useful (the secret's length is not secret), but compare anyway in
    // constant time for equal lengths.
    presented.len() == expected.len() && bool::from(presented.ct_eq(expected))
}
