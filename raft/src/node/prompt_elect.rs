//! Prompt election after a leader crash, by the most caught-up follower.
//!
//! openraft 0.9 lets a follower vote only once the leader's lease (`election_timeout_max`
//! since its last message) has run out, and a follower stands only after the lease plus a
//! random election timeout. So a crash costs the lease plus up to `election_timeout_max`
//! more, and when the follower that stands first has the shorter log it is refused and the
//! round is lost: the slow tail of failover (docs/benchmarks.md).
//!
//! Here every voting follower watches for its leader's silence. Once it has lasted the lease
//! plus a heartbeat, it asks the other voters how long they have not heard from a leader and
//! how long their logs are. If a majority (itself included) has lost the leader too, the one
//! with the longest log among them (the lowest id on a tie) stands at once: its vote requests
//! arrive just after every lease has run out, and nobody refuses it for its log. A follower
//! cut off from a leader that the others still hear does nothing (they do not agree), and
//! openraft's own timers stay in place behind this as before.

use std::sync::{Arc, Weak};
use std::time::Duration;

use openraft::ServerState;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::status::NodeStatus;
use super::Node;
use crate::types::NodeId;

/// One voter's view, as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub id: NodeId,
    /// Milliseconds since it last heard from a leader (`None`: unknown or never).
    pub leader_contact_ms: Option<u64>,
    pub last_log_index: u64,
    /// It is a leader right now.
    pub leading: bool,
}

/// Whether `me` should stand for election now, given what the other voters answered.
/// Pure: the watcher below feeds it. `voters` counts every voter, `me` included.
pub fn should_stand(me: &View, others: &[View], voters: usize, lease_ms: u64) -> bool {
    let lost = |v: &View| !v.leading && v.leader_contact_ms.is_some_and(|ms| ms >= lease_ms);
    if !lost(me) {
        return false;
    }
    let agreeing: Vec<&View> = others.iter().filter(|v| lost(v)).collect();
    if agreeing.len() + 1 < voters / 2 + 1 {
        return false;
    }
    let rank = |v: &View| (v.last_log_index, std::cmp::Reverse(v.id));
    agreeing.iter().all(|v| rank(v) < rank(me))
}

impl Node {
    /// Records a message from a current leader (an accepted AppendEntries).
    pub(crate) fn leader_contact(&self) {
        *self.leader_contact.lock() = Some(Instant::now());
    }

    /// Milliseconds since the last message from a leader, if any arrived since start.
    pub(crate) fn leader_contact_ms(&self) -> Option<u64> {
        self.leader_contact
            .lock()
            .map(|t| t.elapsed().as_millis() as u64)
    }
}

/// The watcher: once per heartbeat, while this node is a voting follower whose leader has
/// been silent for the lease plus a heartbeat, asks the other voters and stands if
/// [`should_stand`] says so.
pub(super) async fn watch(node: Weak<Node>) {
    let Some(heartbeat) = node.upgrade().map(|n| n.cfg.heartbeat) else {
        return;
    };
    let mut tick = tokio::time::interval(heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stood_in_term = 0;
    loop {
        tick.tick().await;
        let Some(n) = node.upgrade() else { return };
        if n.is_shut_down() {
            return;
        }
        let lease = n.cfg.election_timeout_max;
        let silent = n.leader_contact_ms();
        if n.stepping_down() || silent.is_none_or(|ms| ms < (lease + heartbeat).as_millis() as u64)
        {
            continue;
        }
        let m = n.raft.metrics().borrow().clone();
        let voters: Vec<NodeId> = m.membership_config.membership().voter_ids().collect();
        if m.state != ServerState::Follower
            || voters.len() < 2
            || !voters.contains(&n.id)
            || m.current_term <= stood_in_term
        {
            continue;
        }
        let me = View {
            id: n.id,
            leader_contact_ms: silent,
            last_log_index: m.last_log_index.unwrap_or(0),
            leading: false,
        };
        let others = ask_voters(&n, &voters, heartbeat * 2).await;
        if should_stand(&me, &others, voters.len(), lease.as_millis() as u64) {
            stood_in_term = m.current_term;
            tracing::info!(
                silent_ms = ?silent,
                last_log_index = me.last_log_index,
                "the leader is silent to a majority and this node has the longest log: standing for election"
            );
            if let Err(e) = n.raft.trigger().elect().await {
                tracing::debug!(error = %e, "could not start an election");
            }
        }
    }
}

/// The other voters' views; those that do not answer within `timeout` are left out.
async fn ask_voters(n: &Arc<Node>, voters: &[NodeId], timeout: Duration) -> Vec<View> {
    let timeout = timeout.max(Duration::from_millis(100));
    let mut asks = JoinSet::new();
    for &id in voters.iter().filter(|&&id| id != n.id) {
        let Some(addr) = n.cluster_addr(id) else {
            continue;
        };
        let client = n.client.clone();
        asks.spawn(async move {
            let s: NodeStatus = client
                .post(&addr, "/cluster/info", &(), timeout)
                .await
                .ok()?;
            Some(View {
                id: s.id,
                leader_contact_ms: s.leader_contact_ms,
                last_log_index: s.last_log_index.unwrap_or(0),
                leading: s.state == "Leader",
            })
        });
    }
    let mut views = Vec::new();
    while let Some(r) = asks.join_next().await {
        if let Ok(Some(v)) = r {
            views.push(v);
        }
    }
    views
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(id: NodeId, contact: Option<u64>, index: u64) -> View {
        View {
            id,
            leader_contact_ms: contact,
            last_log_index: index,
            leading: false,
        }
    }

    const LEASE: u64 = 400;

    #[test]
    fn the_longest_log_stands_when_a_majority_lost_the_leader() {
        let me = v(2, Some(460), 50);
        assert!(should_stand(&me, &[v(3, Some(455), 49)], 3, LEASE));
        assert!(
            !should_stand(&me, &[v(3, Some(455), 51)], 3, LEASE),
            "3 has more"
        );
        // A tie goes to the lowest id.
        assert!(should_stand(&me, &[v(3, Some(455), 50)], 3, LEASE));
        assert!(!should_stand(
            &v(3, Some(460), 50),
            &[v(2, Some(455), 50)],
            3,
            LEASE
        ));
    }

    #[test]
    fn nothing_happens_while_the_others_still_hear_a_leader() {
        let me = v(2, Some(900), 50);
        // Cut off from a leader that node 3 still hears: no agreement, no election.
        assert!(!should_stand(&me, &[v(3, Some(40), 40)], 3, LEASE));
        let leader = View {
            leading: true,
            ..v(1, None, 60)
        };
        assert!(!should_stand(&me, &[leader, v(3, Some(40), 40)], 3, LEASE));
        // Nobody answered: no majority.
        assert!(!should_stand(&me, &[], 3, LEASE));
        // Unknown contact (an older replica) does not count as agreement.
        assert!(!should_stand(&me, &[v(3, None, 10)], 3, LEASE));
    }

    #[test]
    fn five_voters_need_three_and_the_best_of_them() {
        let me = v(4, Some(500), 70);
        assert!(
            !should_stand(&me, &[v(5, Some(500), 60)], 5, LEASE),
            "2 of 5"
        );
        assert!(should_stand(
            &me,
            &[v(5, Some(500), 60), v(3, Some(450), 69)],
            5,
            LEASE
        ));
        // A better node that still hears the leader does not hold us back; one that lost it does.
        assert!(should_stand(
            &me,
            &[v(5, Some(500), 60), v(3, Some(450), 69), v(2, Some(10), 99)],
            5,
            LEASE
        ));
        assert!(!should_stand(
            &me,
            &[v(5, Some(500), 60), v(3, Some(450), 71)],
            5,
            LEASE
        ));
    }

    #[test]
    fn a_node_that_still_hears_its_leader_never_stands() {
        assert!(!should_stand(
            &v(2, Some(100), 99),
            &[v(3, Some(900), 1)],
            3,
            LEASE
        ));
        assert!(!should_stand(
            &v(2, None, 99),
            &[v(3, Some(900), 1)],
            3,
            LEASE
        ));
    }
}
