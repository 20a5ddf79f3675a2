//! The write path: batching, proposing on the leader, forwarding from followers, retrying
//! across failovers.
//!
//! Concurrent writes arriving at one replica are coalesced into one Raft entry (up to
//! [`MAX_BATCH`] commands and [`crate::store::MAX_ENTRY_BYTES`]): one append, one fsync, one
//! replication round for all of them. Batches are submitted concurrently, so a slow batch
//! never holds up the next.
//!
//! A batch is retried, with the same request ids, until it is applied or the write timeout
//! passes: after a leader change the new leader either has the entry (the retry returns the
//! remembered outcomes) or does not (the retry applies it once).

use std::sync::{Arc, Weak};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Node, WriteError};
use crate::command::{Command, Outcome, Proposal, Request};
use crate::store::MAX_ENTRY_BYTES;

/// Commands per Raft entry.
const MAX_BATCH: usize = 256;
/// Batches in flight at once per replica. While they are in flight new writes queue up and
/// form the next (larger) batch: this is what turns concurrency into batching.
const MAX_IN_FLIGHT: usize = 2;
/// Room left in an entry for the envelope (log id, payload tag).
const ENTRY_OVERHEAD: usize = 256;

pub(super) struct Pending {
    proposal: Proposal,
    size: usize,
    tx: oneshot::Sender<Result<Outcome, WriteError>>,
}

/// Reply of the leader's propose endpoint.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum ProposeReply {
    /// Committed and applied on the leader at `index`.
    Applied {
        index: u64,
        outcomes: Vec<Outcome>,
    },
    Rejected(WriteError),
}

impl Node {
    /// Proposes one command and waits for its outcome. The outcome is visible on this replica
    /// when this returns.
    pub async fn write(&self, cmd: Command) -> Result<Outcome, WriteError> {
        self.write_with_id(rand::random(), cmd).await
    }

    /// As [`Node::write`] with a caller-chosen request id (a client retrying a request).
    pub async fn write_with_id(
        &self,
        id: crate::ReqId,
        cmd: Command,
    ) -> Result<Outcome, WriteError> {
        if let Some(since) = self.leaderless_for_writes() {
            return Err(WriteError::NoLeader {
                since_ms: since.as_millis() as u64,
            });
        }
        let proposal = Proposal {
            id,
            now: now_micros(),
            cmd,
        };
        let size = encoded_len(&proposal);
        let limit = MAX_ENTRY_BYTES - ENTRY_OVERHEAD;
        if size > limit {
            return Err(WriteError::TooLarge { bytes: size, limit });
        }
        let (tx, rx) = oneshot::channel();
        self.proposals
            .send(Pending { proposal, size, tx })
            .await
            .map_err(|_| WriteError::Unavailable("shutting down".into()))?;
        rx.await
            .map_err(|_| WriteError::Unavailable("shutting down".into()))?
    }

    /// Sends one batch until it is applied here or the write timeout passes.
    async fn submit(self: &Arc<Self>, req: Request) -> Result<Vec<Outcome>, WriteError> {
        let deadline = Instant::now() + self.cfg.write_timeout;
        let mut attempt = 0u32;
        loop {
            if self.is_shut_down() {
                return Err(WriteError::Unavailable("shutting down".into()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WriteError::Timeout {
                    timeout_ms: self.cfg.write_timeout.as_millis() as u64,
                });
            }
            let res = match self.current_leader() {
                Some(l) if l == self.id => self.propose_local(req.clone(), left).await,
                Some(l) => self.propose_remote(l, &req, left).await,
                None => {
                    if let Some(since) = self.leaderless_for_writes() {
                        return Err(WriteError::NoLeader {
                            since_ms: since.as_millis() as u64,
                        });
                    }
                    Err(Retry::AfterLeaderChange)
                }
            };
            match res {
                Ok((index, outcomes)) => {
                    // Read your own write: answer once this replica has applied the entry.
                    let left = deadline.saturating_duration_since(Instant::now());
                    self.wait_applied(index, left.max(Duration::from_millis(500)))
                        .await;
                    return Ok(outcomes);
                }
                Err(Retry::Fatal(e)) => return Err(e),
                Err(Retry::AfterLeaderChange) => {
                    self.wait_leader_change(Duration::from_millis(100)).await;
                }
                Err(Retry::Backoff) => {
                    attempt += 1;
                    let ms = (10u64 << attempt.min(5)).min(200);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
        }
    }

    /// Proposes on this node (the leader); used for local batches and forwarded ones.
    pub(super) async fn propose_local(
        &self,
        req: Request,
        timeout: Duration,
    ) -> Result<(u64, Vec<Outcome>), Retry> {
        // Handing over: new entries would renew the followers' lease and block the election.
        if self.stepping_down() {
            return Err(Retry::AfterLeaderChange);
        }
        if !self.confirm_lease(timeout).await {
            return Err(Retry::AfterLeaderChange);
        }
        match tokio::time::timeout(timeout, self.raft.client_write(req)).await {
            Err(_) => Err(Retry::Fatal(WriteError::Timeout {
                timeout_ms: timeout.as_millis() as u64,
            })),
            Ok(Ok(resp)) => Ok((resp.log_id.index, resp.data.outcomes)),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                Err(Retry::AfterLeaderChange)
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                Err(Retry::Fatal(WriteError::Unavailable(e.to_string())))
            }
            Ok(Err(RaftError::Fatal(e))) => {
                Err(Retry::Fatal(WriteError::Unavailable(e.to_string())))
            }
        }
    }

    async fn propose_remote(
        &self,
        leader: u64,
        req: &Request,
        left: Duration,
    ) -> Result<(u64, Vec<Outcome>), Retry> {
        let Some(addr) = self.cluster_addr(leader) else {
            return Err(Retry::AfterLeaderChange);
        };
        // Bound each attempt so a dead leader costs at most a couple of seconds before the
        // retry goes to its successor.
        let per_try = left.min(Duration::from_secs(3));
        let forward = self
            .client
            .post::<_, ProposeReply>(&addr, "/cluster/propose", req, per_try);
        // A paused or cut-off leader holds the request without answering. Once this replica
        // follows a successor, the attempt is abandoned and the batch goes there at once,
        // instead of after the attempt's timeout: the same request ids make that safe (an
        // entry the old leader did commit is remembered, not applied twice).
        let reply = tokio::select! {
            r = forward => r,
            _ = self.leader_moved_from(leader) => return Err(Retry::AfterLeaderChange),
        };
        match reply {
            Ok(ProposeReply::Applied { index, outcomes }) => Ok((index, outcomes)),
            Ok(ProposeReply::Rejected(WriteError::ForwardToLeader { .. })) => {
                Err(Retry::AfterLeaderChange)
            }
            Ok(ProposeReply::Rejected(
                WriteError::NoLeader { .. } | WriteError::Timeout { .. },
            )) => Err(Retry::Backoff),
            Ok(ProposeReply::Rejected(e)) => Err(Retry::Fatal(e)),
            Err(e) => {
                tracing::debug!(error = %e, leader, "forwarding a write failed; retrying");
                Err(Retry::Backoff)
            }
        }
    }

    /// As leader, makes sure a quorum still follows us before accepting a write, at most once
    /// per heartbeat interval. openraft 0.9 has no CheckQuorum: a leader cut off from the
    /// majority would otherwise accept writes that can never commit.
    async fn confirm_lease(&self, timeout: Duration) -> bool {
        let fresh = self.cfg.heartbeat * 2;
        if self
            .lease_confirmed
            .lock()
            .is_some_and(|t| t.elapsed() < fresh)
        {
            return true;
        }
        let probe = timeout.min(self.cfg.election_timeout_max);
        match tokio::time::timeout(probe, self.raft.get_read_log_id()).await {
            Ok(Ok(_)) => {
                *self.lease_confirmed.lock() = Some(Instant::now());
                true
            }
            _ => false,
        }
    }

    /// Waits until this replica has applied `index` (or `timeout` passes).
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        let mut rx = self.shared.applied.clone();
        tokio::time::timeout(timeout, rx.wait_for(|a| a.index >= index))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Resolves once this replica knows a leader other than `leader`.
    pub(super) async fn leader_moved_from(&self, leader: u64) {
        let mut rx = self.raft.metrics();
        let _ = rx
            .wait_for(|m| m.current_leader.is_some_and(|l| l != leader))
            .await;
    }

    async fn wait_leader_change(&self, max: Duration) {
        let mut rx = self.raft.metrics();
        let before = rx.borrow().current_leader;
        let _ = tokio::time::timeout(max, rx.wait_for(|m| m.current_leader != before)).await;
    }
}

pub(super) enum Retry {
    AfterLeaderChange,
    Backoff,
    Fatal(WriteError),
}

/// Microseconds since the Unix epoch: the proposer's clock, stamped into every proposal.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Drains the proposal queue into batches and submits each batch concurrently.
pub(super) async fn batcher(node: Weak<Node>, mut rx: mpsc::Receiver<Pending>) {
    let budget = MAX_ENTRY_BYTES - ENTRY_OVERHEAD;
    let mut carry: Option<Pending> = None;
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    loop {
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        // Wait for a free slot before draining: everything that queues meanwhile joins this batch.
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = first.size;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) if bytes + p.size > budget => {
                    carry = Some(p);
                    break;
                }
                Ok(p) => {
                    bytes += p.size;
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let Some(n) = node.upgrade() else { return };
        tokio::spawn(async move {
            let _permit = permit;
            let (items, txs): (Vec<Proposal>, Vec<_>) =
                batch.into_iter().map(|p| (p.proposal, p.tx)).unzip();
            match n
                .submit(Request {
                    items: items.into(),
                })
                .await
            {
                Ok(outcomes) => {
                    for (tx, o) in txs.into_iter().zip(outcomes) {
                        let _ = tx.send(Ok(o));
                    }
                }
                Err(e) => {
                    for tx in txs {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}

/// The msgpack size of `v` as the log encodes it, counted without building the bytes.
fn encoded_len<T: serde::Serialize>(v: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    match rmp_serde::encode::write_named(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_is_the_length_of_the_encoding() {
        let p = Proposal {
            id: 7,
            now: 1_700_000_000_000_000,
            cmd: Command::DeleteUser {
                name: "a-name-of-some-length".into(),
            },
        };
        let bytes = rmp_serde::to_vec_named(&p).expect("encodes");
        assert_eq!(encoded_len(&p), bytes.len());
    }
}
