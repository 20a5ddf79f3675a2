//! Linearizable reads: the read-index protocol (Raft §6.4), from any replica.
//!
//! On the leader, openraft confirms leadership with a quorum heartbeat round and returns the
//! read index. A follower asks the leader for that index over the cluster port, then waits
//! until it has applied that far and reads locally: one round trip, no data transfer.

use std::time::Duration;

use tokio::time::Instant;

use super::{Node, ReadError};
use crate::network::ClientError;

/// Time left for a held request's answer to travel back before the asker's deadline.
const ANSWER_SLACK: Duration = Duration::from_millis(100);

/// Reply of the leader's read-index endpoint.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum ReadIndexReply {
    Index(u64),
    NotLeader,
}

impl Node {
    /// Returns once every write acknowledged (anywhere) before this call is visible in
    /// [`Node::state`]. Costs one quorum round (plus one hop from a follower).
    pub async fn linearizable_barrier(&self, timeout: Duration) -> Result<(), ReadError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadError::Timeout {
                    timeout_ms: timeout.as_millis() as u64,
                });
            }
            let index = match self.current_leader() {
                Some(l) if l == self.id => self.leader_read_index(left).await,
                Some(l) => self.remote_read_index(l, left).await,
                None => {
                    if let Some(since) = self.leaderless_for() {
                        return Err(ReadError::NoLeader {
                            since_ms: since.as_millis() as u64,
                        });
                    }
                    None
                }
            };
            match index {
                Some(i) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if self.wait_applied(i, left).await {
                        return Ok(());
                    }
                    return Err(ReadError::Timeout {
                        timeout_ms: timeout.as_millis() as u64,
                    });
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// The leader's read index (its commit index once a quorum confirmed its leadership),
    /// asked from wherever this node is; `None` without a reachable leader. Readiness
    /// compares it with the local applied index: a follower's own commit index only counts
    /// entries it already holds, so a replica streaming the log would look caught up.
    pub async fn leader_index(&self, timeout: Duration) -> Option<u64> {
        match self.current_leader() {
            Some(l) if l == self.id => self.leader_read_index(timeout).await,
            Some(l) => self.remote_read_index(l, timeout).await,
            None => None,
        }
    }

    /// The read index if this node is the leader and a quorum confirms it.
    pub(super) async fn leader_read_index(&self, timeout: Duration) -> Option<u64> {
        // Handing over: a read-index round is a heartbeat, which would renew the lease.
        if self.stepping_down() {
            return None;
        }
        match tokio::time::timeout(timeout, self.raft.get_read_log_id()).await {
            Ok(Ok((read, _applied))) => {
                *self.lease_confirmed.lock() = Some(Instant::now());
                Some(read.map(|l| l.index).unwrap_or(0))
            }
            _ => None,
        }
    }

    async fn remote_read_index(&self, leader: u64, timeout: Duration) -> Option<u64> {
        let addr = self.cluster_addr(leader)?;
        let per_try = timeout.min(Duration::from_secs(2));
        let ask = self
            .client
            .post::<_, ReadIndexReply>(&addr, "/cluster/read-index", &(), per_try);
        // A paused leader holds the question: ask its successor as soon as there is one.
        tokio::select! {
            r = ask => match r {
                Ok(ReadIndexReply::Index(i)) => Some(i),
                _ => None,
            },
            _ = self.leader_moved_from(leader) => None,
        }
    }
}

/// Body of a follower's wait-applied endpoint: answer once `index` is applied here, or after
/// `timeout_ms`, with the applied index either way.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct WaitApplied {
    pub index: u64,
    pub timeout_ms: u64,
}

/// Longest a wait-applied request is held on the answering replica.
pub(super) const MAX_WAIT_APPLIED: Duration = Duration::from_secs(5);

impl Node {
    /// Waits until every reachable member has applied `index`, at most `timeout`. Used where
    /// an acknowledgement must be visible on all replicas (a route a user is about to be
    /// redirected to). Unreachable members are skipped: they are down or partitioned, and
    /// will catch up before they serve again (readiness requires it). Returns how many other
    /// members were confirmed.
    ///
    /// Members are asked at once, each holding the request until it has applied `index`
    /// (the leader sends the new commit index right after committing), so this costs one
    /// round trip after the slowest member's apply instead of a polling interval.
    pub async fn wait_applied_everywhere(&self, index: u64, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let members: Vec<String> = {
            let m = self.raft.metrics().borrow().membership_config.clone();
            m.membership()
                .nodes()
                .filter(|(id, _)| **id != self.id)
                .map(|(_, n)| n.cluster_addr.clone())
                .collect()
        };
        let waits = members
            .iter()
            .map(|addr| self.member_applied(addr, index, deadline));
        futures::future::join_all(waits)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count()
    }

    /// Whether the member at `addr` confirms having applied `index` before `deadline`.
    async fn member_applied(&self, addr: &str, index: u64, deadline: Instant) -> bool {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            // The member answers a little before our deadline, so its "not yet" arrives in time.
            let hold = left.saturating_sub(ANSWER_SLACK).min(MAX_WAIT_APPLIED);
            let body = WaitApplied {
                index,
                timeout_ms: hold.as_millis() as u64,
            };
            let answer = self
                .client
                .post::<_, u64>(addr, "/cluster/wait-applied", &body, left)
                .await;
            match answer {
                Ok(applied) if applied >= index => return true,
                Ok(_) if hold.is_zero() => tokio::time::sleep(Duration::from_millis(5)).await,
                Ok(_) => continue,
                // A replica of an older version, without the endpoint (a rolling upgrade).
                Err(ClientError::Status { status: 404, .. }) => {
                    return self.poll_member_applied(addr, index, deadline).await
                }
                Err(_) => return false,
            }
        }
    }

    /// [`Node::member_applied`] against a replica that only has the status endpoint.
    async fn poll_member_applied(&self, addr: &str, index: u64, deadline: Instant) -> bool {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let st = self
                .client
                .post::<_, super::NodeStatus>(
                    addr,
                    "/cluster/info",
                    &(),
                    left.min(Duration::from_millis(500)),
                )
                .await;
            match st {
                Ok(s) if s.applied.unwrap_or(0) >= index => return true,
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(_) => return false,
            }
        }
    }
}
