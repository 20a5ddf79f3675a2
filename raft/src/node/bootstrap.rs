//! Guarded bootstrap and joining.
//!
//! A node initializes the cluster only if its own log is empty, a majority of the peer list
//! (itself included) answers, none of them is initialized, and it has the lowest id among
//! those that answered (normally the StatefulSet's pod-0). Every initializer passes the same
//! full membership, which openraft documents as safe even if two nodes do it.
//! A node whose disk was lost finds initialized peers and waits to be caught up: it never
//! re-initializes, which would fork the cluster. A pristine node that is not yet a member of an
//! initialized cluster asks the leader to add it (learner first, then voter), when
//! `auto_join` is set.

use std::sync::Weak;
use std::time::Duration;

use super::membership::MemberChange;
use super::{MembershipError, Node, NodeStatus};
use crate::command::Command;
use crate::types::NodeId;

const POLL: Duration = Duration::from_millis(300);

pub(super) async fn run(node: Weak<Node>) {
    loop {
        let Some(n) = node.upgrade() else { return };
        if n.is_shut_down() {
            return;
        }
        match n.raft.is_initialized().await {
            Ok(true) => break,
            Ok(false) => {}
            Err(_) => return,
        }
        n.bootstrap_step().await;
        drop(n);
        tokio::time::sleep(POLL).await;
    }
    leader_duties(node).await;
}

impl Node {
    async fn bootstrap_step(&self) {
        let mut answered = vec![self.id];
        let mut initialized_peer: Option<(NodeId, NodeStatus)> = None;
        for (id, info) in &self.cfg.peers {
            if *id == self.id {
                continue;
            }
            match self
                .client
                .post::<_, NodeStatus>(
                    &info.cluster_addr,
                    "/cluster/info",
                    &(),
                    Duration::from_secs(1),
                )
                .await
            {
                Ok(st) if st.id != *id => {
                    tracing::error!(
                        expected = id,
                        found = st.id,
                        addr = %info.cluster_addr,
                        "a different node answers at this peer's address; check the peer list"
                    );
                }
                Ok(st) => {
                    answered.push(*id);
                    if st.initialized {
                        initialized_peer = Some((*id, st));
                    }
                }
                Err(e) => {
                    tracing::debug!(peer = id, error = %e, "peer not reachable during bootstrap");
                }
            }
        }
        if let Some((peer, st)) = initialized_peer {
            if st.voters.is_empty() {
                // Initialized a moment ago; its membership is not visible yet.
                return;
            }
            let member = st.voters.contains(&self.id) || st.learners.contains(&self.id);
            if member {
                tracing::info!(
                    peer,
                    "the cluster exists and includes this node; waiting to be caught up"
                );
            } else if self.cfg.auto_join {
                tracing::info!(
                    peer,
                    "the cluster exists; asking its leader to add this node"
                );
                let change = MemberChange::Add {
                    id: self.id,
                    info: self.cfg.me().clone(),
                };
                let addr = &self.cfg.peers[&peer].cluster_addr;
                let res = self
                    .client
                    .post::<_, Result<(), MembershipError>>(
                        addr,
                        "/cluster/members",
                        &change,
                        Duration::from_secs(120),
                    )
                    .await;
                match res {
                    Ok(Ok(())) => tracing::info!("joined the cluster"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "join refused; will retry"),
                    Err(e) => tracing::warn!(error = %e, "join request failed; will retry"),
                }
            } else {
                tracing::warn!("the cluster exists and this node is not a member; add it with `rafthub cluster add`");
            }
            return;
        }
        let majority = answered.len() * 2 > self.cfg.peers.len();
        let lowest = answered.iter().min() == Some(&self.id);
        if majority && lowest {
            tracing::info!(members = ?self.cfg.peers.keys().collect::<Vec<_>>(), "initializing a new cluster");
            if let Err(e) = self.raft.initialize(self.cfg.peers.clone()).await {
                tracing::warn!(error = %e, "initialize failed");
            }
        }
    }
}

/// Cluster-level setup that the leader proposes once: the cookie secret and cluster id.
async fn leader_duties(node: Weak<Node>) {
    loop {
        let Some(n) = node.upgrade() else { return };
        if n.is_shut_down() {
            return;
        }
        if n.is_leader() && n.state().cluster_config().is_none() {
            let cmd = Command::InitCluster {
                cookie_secret: hex::encode(rand::random::<[u8; 32]>()),
                cluster_id: hex::encode(rand::random::<[u8; 8]>()),
            };
            if let Err(e) = n.write(cmd).await {
                tracing::warn!(error = %e, "could not initialize cluster settings; will retry");
            }
        } else if n.state().cluster_config().is_some() {
            return;
        }
        drop(n);
        tokio::time::sleep(POLL).await;
    }
}
