//! Leader step-down before a planned exit (a pod's SIGTERM on a rolling update).
//!
//! openraft 0.9 has no leadership transfer, and a follower refuses to vote for anyone while
//! the leader's lease (`election_timeout_max` since the leader's last message) lasts. So the
//! leader makes the lease run out on purpose: it stops proposing (writes wait and then go to
//! the successor, reads ask it), stops heartbeats and its own elections, lets its last
//! entries reach the most caught-up follower, waits out the lease, and asks that follower
//! to stand for election at once. Writes pause for about one lease instead of failing over
//! after a crash (lease plus a random election timeout), and no in-flight request fails.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Node;
use crate::types::NodeId;

impl Node {
    /// Whether this node is handing leadership over (see the module docs).
    pub fn stepping_down(&self) -> bool {
        self.stepping_down.load(Ordering::Relaxed)
    }

    /// Hands leadership to a follower; returns whether another node leads within `timeout`.
    /// A no-op for a follower. Meant for shutdown: the node stays out of elections after it.
    pub async fn step_down(self: &Arc<Self>, timeout: Duration) -> bool {
        if self.current_leader() != Some(self.id) {
            return true;
        }
        let alone = {
            let m = self.raft.metrics().borrow().clone();
            m.membership_config
                .membership()
                .voter_ids()
                .all(|id| id == self.id)
        };
        if alone {
            return true;
        }
        let deadline = Instant::now() + timeout;
        self.stepping_down.store(true, Ordering::Relaxed);
        self.raft.runtime_config().heartbeat(false);
        self.raft.runtime_config().elect(false);
        tracing::info!("stepping down: handing leadership to a follower");
        let mut tried = Vec::new();
        while Instant::now() < deadline {
            let Some(to) = self.successor(&tried, deadline).await else {
                break;
            };
            tried.push(to);
            let Some(addr) = self.cluster_addr(to) else {
                continue;
            };
            // A follower that is gone too (the whole cluster stopping) is not waited for.
            let up: Result<serde::de::IgnoredAny, _> = self
                .client
                .post(&addr, "/cluster/info", &(), Duration::from_millis(500))
                .await;
            if up.is_err() {
                continue;
            }
            // The lease runs from the follower's last message from us.
            tokio::time::sleep(self.cfg.election_timeout_max + self.cfg.heartbeat).await;
            let left = deadline.saturating_duration_since(Instant::now());
            let asked: Result<bool, _> = self
                .client
                .post(
                    &addr,
                    "/cluster/elect",
                    &(),
                    left.min(Duration::from_secs(2)),
                )
                .await;
            if let Err(e) = asked {
                tracing::warn!(node = to, error = %e, "could not ask a follower to stand");
                continue;
            }
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(self.cfg.election_timeout_max * 3);
            let mut rx = self.raft.metrics();
            let me = self.id;
            let moved = tokio::time::timeout(
                wait,
                rx.wait_for(|m| m.current_leader.is_some_and(|l| l != me)),
            )
            .await;
            if moved.is_ok() {
                tracing::info!(leader = ?self.current_leader(), "stepped down");
                return true;
            }
        }
        tracing::warn!("no follower took over; the cluster elects a leader as after a crash");
        false
    }

    /// The voter that has replicated the most of our log, once it has all of it (or the
    /// deadline nears), skipping those already asked.
    async fn successor(&self, tried: &[NodeId], deadline: Instant) -> Option<NodeId> {
        let give_up = deadline.min(Instant::now() + Duration::from_secs(1));
        loop {
            let m = self.raft.metrics().borrow().clone();
            let last = m.last_log_index.unwrap_or(0);
            let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
            let best = m
                .replication
                .as_ref()?
                .iter()
                .filter(|(id, _)| **id != self.id && !tried.contains(id) && voters.contains(id))
                .map(|(id, matched)| (matched.map(|l| l.index).unwrap_or(0), *id))
                .max()?;
            if best.0 >= last || Instant::now() >= give_up {
                return Some(best.1);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
