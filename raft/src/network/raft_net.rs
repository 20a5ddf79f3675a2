//! openraft's `RaftNetwork` over [`ClusterClient`].

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{ClientError, ClusterClient};
use crate::types::{NodeId, NodeInfo, TypeConfig};

/// Creates one [`PeerNetwork`] per target; all share the client's connection pool.
#[derive(Clone)]
pub struct NetworkFactory {
    client: ClusterClient,
}

impl NetworkFactory {
    pub fn new(client: ClusterClient) -> Self {
        NetworkFactory { client }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerNetwork {
        PeerNetwork {
            client: self.client.clone(),
            target,
            addr: node.cluster_addr.clone(),
        }
    }
}

pub struct PeerNetwork {
    client: ClusterClient,
    target: NodeId,
    addr: String,
}

impl PeerNetwork {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let res: Result<Result<Resp, RaftError<NodeId, E>>, ClientError> = self
            .client
            .post(&self.addr, path, req, option.hard_ttl())
            .await;
        match res {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Err(e) => Err(rpc_error(e)),
        }
    }
}

/// How openraft is to treat a failed call. `Unreachable` makes it back off (500 ms) before
/// retrying the peer; any other error is retried at once. A peer that answered with an error
/// status (a wrong cluster secret's 401, another program on the port, a proxy's 502) answers
/// the same to an immediate retry: without the back-off, replication to it was a hot loop that
/// wrote ~1 MB/s of error lines to the log.
fn rpc_error<E: std::error::Error>(e: ClientError) -> RPCError<NodeId, NodeInfo, E> {
    match e {
        ClientError::Connect { .. } | ClientError::Status { .. } => {
            RPCError::Unreachable(Unreachable::new(&e))
        }
        ClientError::Timeout { .. } | ClientError::Other { .. } => {
            RPCError::Network(NetworkError::new(&e))
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, NodeInfo, RaftError<NodeId>>> {
        self.call("/raft/append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, NodeInfo, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call("/raft/snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, NodeInfo, RaftError<NodeId>>> {
        self.call("/raft/vote", &rpc, &option).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: ClientError) -> &'static str {
        match rpc_error::<RaftError<NodeId>>(e) {
            RPCError::Unreachable(_) => "back off",
            RPCError::Network(_) => "retry",
            _ => "other",
        }
    }

    #[test]
    fn peers_that_refuse_or_answer_an_error_status_are_backed_off() {
        let addr = || "127.0.0.1:1".to_string();
        let cases = [
            (
                ClientError::Connect {
                    addr: addr(),
                    msg: "refused".into(),
                },
                "back off",
            ),
            (
                ClientError::Status {
                    addr: addr(),
                    status: 401,
                    body: "wrong cluster secret".into(),
                },
                "back off",
            ),
            (
                ClientError::Status {
                    addr: addr(),
                    status: 404,
                    body: String::new(),
                },
                "back off",
            ),
            (
                ClientError::Timeout {
                    addr: addr(),
                    timeout: std::time::Duration::from_secs(1),
                },
                "retry",
            ),
            (
                ClientError::Other {
                    addr: addr(),
                    msg: "reset".into(),
                },
                "retry",
            ),
        ];
        for (e, want) in cases {
            let shown = e.to_string();
            assert_eq!(kind(e), want, "{shown}");
        }
    }
}
