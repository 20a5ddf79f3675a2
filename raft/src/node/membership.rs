//! Membership changes, one at a time, through the leader.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::ChangeMembers;

use super::{MembershipError, Node, WriteError};
use crate::types::{NodeId, NodeInfo};

/// How long a membership change waits for one in progress before answering busy.
const CHANGE_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum MemberChange {
    Add { id: NodeId, info: NodeInfo },
    Remove { id: NodeId },
}

impl Node {
    /// Adds `id` as a learner, waits until it has caught up, then promotes it to voter.
    pub async fn add_member(&self, id: NodeId, info: NodeInfo) -> Result<(), MembershipError> {
        self.change(MemberChange::Add { id, info }).await
    }

    /// Removes `id` from the voters and the cluster.
    pub async fn remove_member(&self, id: NodeId) -> Result<(), MembershipError> {
        self.change(MemberChange::Remove { id }).await
    }

    pub(super) async fn change(&self, change: MemberChange) -> Result<(), MembershipError> {
        match self.current_leader() {
            Some(l) if l == self.id => self.change_as_leader(change).await,
            Some(l) => {
                let addr = self
                    .cluster_addr(l)
                    .ok_or(WriteError::Unavailable("leader address unknown".into()))?;
                self.client
                    .post::<_, Result<(), MembershipError>>(
                        &addr,
                        "/cluster/members",
                        &change,
                        Duration::from_secs(120),
                    )
                    .await
                    .map_err(|e| MembershipError::Failed(e.to_string()))?
            }
            None => Err(WriteError::NoLeader {
                since_ms: self
                    .leaderless_for()
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
            }
            .into()),
        }
    }

    pub(super) async fn change_as_leader(
        &self,
        change: MemberChange,
    ) -> Result<(), MembershipError> {
        // A change right after another (`cluster add` then `cluster remove`) waits for the
        // first to finish, joint phase included, rather than failing; only one still running
        // after `CHANGE_WAIT` is reported as busy.
        let deadline = tokio::time::Instant::now() + CHANGE_WAIT;
        let _guard = tokio::time::timeout_at(deadline, self.membership_lock.lock())
            .await
            .map_err(|_| MembershipError::Busy)?;
        let mut metrics = self.raft.metrics();
        let joint = |m: &openraft::RaftMetrics<_, _>| {
            m.membership_config.membership().get_joint_config().len() > 1
        };
        let settled = tokio::time::timeout_at(deadline, async {
            while joint(&metrics.borrow_and_update()) {
                if metrics.changed().await.is_err() {
                    break;
                }
            }
        });
        if settled.await.is_err() {
            return Err(MembershipError::Busy);
        }
        let m = self.raft.metrics().borrow().membership_config.clone();
        if m.membership().get_joint_config().len() > 1 {
            return Err(MembershipError::Busy);
        }
        let voters: BTreeSet<NodeId> = m.membership().voter_ids().collect();
        let fail = |e: &dyn std::fmt::Display| MembershipError::Failed(e.to_string());
        match change {
            MemberChange::Add { id, info } => {
                if voters.contains(&id) {
                    return Ok(());
                }
                self.raft
                    .add_learner(id, info, true)
                    .await
                    .map_err(|e| fail(&e))?;
                self.raft
                    .change_membership(ChangeMembers::AddVoterIds([id].into()), false)
                    .await
                    .map_err(|e| fail(&e))?;
            }
            MemberChange::Remove { id } => {
                let learner = m.membership().learner_ids().any(|l| l == id);
                if !voters.contains(&id) && !learner {
                    return Err(MembershipError::NotMember(id));
                }
                if voters.contains(&id) {
                    if voters.len() == 1 {
                        return Err(MembershipError::LastVoter(id));
                    }
                    self.raft
                        .change_membership(ChangeMembers::RemoveVoters([id].into()), false)
                        .await
                        .map_err(|e| fail(&e))?;
                } else {
                    self.raft
                        .change_membership(ChangeMembers::RemoveNodes([id].into()), false)
                        .await
                        .map_err(|e| fail(&e))?;
                }
            }
        }
        Ok(())
    }
}
