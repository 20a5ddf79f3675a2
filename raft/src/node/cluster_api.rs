//! The cluster port's HTTP routes: Raft RPCs, forwarded writes, read index, status and
//! membership. Bodies are MessagePack. Every route requires the cluster secret.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, VoteRequest,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::membership::MemberChange;
use super::read::{ReadIndexReply, WaitApplied, MAX_WAIT_APPLIED};
use super::write::{ProposeReply, Retry};
use super::{Node, WriteError};
use crate::network::{secret_matches, MSGPACK, SECRET_HEADER};
use crate::types::{NodeId, TypeConfig};

/// Largest cluster request body: snapshot chunks are 4 MiB at most.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The cluster port's router.
pub fn router(node: Arc<Node>) -> Router {
    let secret = Arc::new(node.cfg.secret.clone());
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/cluster/propose", post(propose))
        .route("/cluster/read-index", post(read_index))
        .route("/cluster/info", post(info))
        .route("/cluster/wait-applied", post(wait_applied))
        .route("/cluster/members", post(members))
        .route("/cluster/elect", post(elect))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let secret = secret.clone();
            async move { check_secret(&secret, req, next).await }
        }))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(node)
}

async fn check_secret(secret: &str, req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(SECRET_HEADER)
        .is_some_and(|v| secret_matches(v.as_bytes(), secret.as_bytes()));
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"status": 401, "message": "missing or wrong cluster secret"}"#,
        )
            .into_response();
    }
    next.run(req).await
}

fn msgpack<T: Serialize>(v: &T) -> Response {
    match rmp_serde::to_vec_named(v) {
        Ok(b) => ([(header::CONTENT_TYPE, MSGPACK)], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    rmp_serde::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("bad cluster request body: {e}"),
        )
            .into_response()
    })
}

async fn append(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let req: AppendEntriesRequest<TypeConfig> = match decode(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let res = node.raft.append_entries(req).await;
    // Accepted from a current leader: it is alive as far as this replica can tell.
    if matches!(
        res,
        Ok(AppendEntriesResponse::Success
            | AppendEntriesResponse::PartialSuccess(_)
            | AppendEntriesResponse::Conflict)
    ) {
        node.leader_contact();
    }
    msgpack(&res)
}

async fn vote(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let req: VoteRequest<NodeId> = match decode(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    msgpack(&node.raft.vote(req).await)
}

async fn snapshot(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let req: InstallSnapshotRequest<TypeConfig> = match decode(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    msgpack(&node.raft.install_snapshot(req).await)
}

/// A follower's forwarded batch. Proposed directly (the follower already batched it).
async fn propose(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let req: crate::Request = match decode(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let reply = match node.current_leader() {
        Some(l) if l == node.id => match node.propose_local(req, node.cfg.write_timeout).await {
            Ok((index, outcomes)) => ProposeReply::Applied { index, outcomes },
            Err(Retry::Fatal(e)) => ProposeReply::Rejected(e),
            Err(_) => ProposeReply::Rejected(WriteError::NoLeader { since_ms: 0 }),
        },
        Some(l) => ProposeReply::Rejected(WriteError::ForwardToLeader {
            leader_id: l,
            leader_addr: node.cluster_addr(l).unwrap_or_default(),
        }),
        None => ProposeReply::Rejected(WriteError::NoLeader {
            since_ms: node
                .leaderless_for()
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }),
    };
    msgpack(&reply)
}

async fn read_index(State(node): State<Arc<Node>>) -> Response {
    let reply = if node.is_leader() {
        match node.leader_read_index(Duration::from_secs(2)).await {
            Some(i) => ReadIndexReply::Index(i),
            None => ReadIndexReply::NotLeader,
        }
    } else {
        ReadIndexReply::NotLeader
    };
    msgpack(&reply)
}

async fn info(State(node): State<Arc<Node>>, _headers: HeaderMap) -> Response {
    msgpack(&node.status().await)
}

/// Held until this replica has applied the index asked for (or the wait is over); answers the
/// applied index (`wait_applied_everywhere` on the asking replica).
async fn wait_applied(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let req: WaitApplied = match decode(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let wait = Duration::from_millis(req.timeout_ms).min(MAX_WAIT_APPLIED);
    node.wait_applied(req.index, wait).await;
    msgpack(&node.shared.applied.borrow().index)
}

async fn members(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let change: MemberChange = match decode(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    // Forwarded to the leader if this replica is not it.
    let res = node.change(change).await;
    msgpack(&res)
}

/// A leader stepping down asks this follower to stand for election now (`step_down`).
async fn elect(State(node): State<Arc<Node>>) -> Response {
    let ok = node.raft.trigger().elect().await.is_ok();
    msgpack(&ok)
}
