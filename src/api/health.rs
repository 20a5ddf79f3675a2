//! Liveness (`/hub/health`, as cheap as possible) and readiness (`/hub/readyz`, each check
//! listed). Readiness never means "is leader": every caught-up replica serves.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::schema::ApiVersion;
use super::Routes;
use crate::hub::Hub;

/// A replica whose applied index trails the commit index by more than this is not ready.
const MAX_APPLY_LAG: u64 = 1000;

pub(super) fn routes(r: Routes) -> Routes {
    r.add(Method::GET, "health", health)
        .add(Method::HEAD, "health", health)
        .add(Method::GET, "api/health", api_health)
        .add(Method::HEAD, "api/health", api_health)
        .add(Method::GET, "readyz", readyz)
        .add(Method::GET, "api", api_root)
        .add(Method::GET, "api/", api_root_slash)
}

/// Liveness: 200 with an empty body, no authentication (the Kubernetes probe); 503 once the
/// Raft core has stopped (a storage error), in the moment before the process exits.
#[utoipa::path(
    method(get, head),
    path = "/health",
    operation_id = "health",
    tag = "health",
    responses(
        (status = 200, description = "Alive."),
        (status = 503, description = "The Raft core stopped on a storage error; the replica is exiting.")
    )
)]
pub async fn health(State(hub): State<Hub>) -> Response {
    match hub.node.core_failure() {
        None => StatusCode::OK.into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("the Raft core stopped: {reason}\n"),
        )
            .into_response(),
    }
}

/// Liveness under the API prefix, as upstream also serves it.
#[utoipa::path(
    method(get, head),
    path = "/api/health",
    operation_id = "api_health",
    tag = "health",
    responses(
        (status = 200, description = "Alive."),
        (status = 503, description = "The Raft core stopped on a storage error; the replica is exiting.")
    )
)]
pub async fn api_health(state: State<Hub>) -> Response {
    health(state).await
}

/// The JupyterHub version, without authentication: jupyterhub-singleuser requires a 2xx here
/// at start-up and the idle culler reads the version.
#[utoipa::path(
    get,
    path = "/api",
    operation_id = "api_root",
    tag = "hub",
    responses((status = 200, description = "The version.", body = ApiVersion))
)]
pub async fn api_root() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        format!(r#"{{"version": "{}"}}"#, crate::JUPYTERHUB_VERSION),
    )
        .into_response()
}

/// `GET {api}/`: the same as without the slash (upstream routes both).
#[utoipa::path(
    get,
    path = "/api/",
    operation_id = "api_root_slash",
    tag = "hub",
    responses((status = 200, description = "The version.", body = ApiVersion))
)]
pub async fn api_root_slash() -> Response {
    api_root().await
}

/// Readiness: one line per check, `[+]` passed or `[-]` failed, then `ready` or `not ready`.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve.", body = String, content_type = "text/plain"),
        (status = 503, description = "Not ready: no leader, applying far behind the commit \
            index, or not (yet) a member of an initialized cluster.",
            body = String, content_type = "text/plain")
    )
)]
pub async fn readyz(State(hub): State<Hub>) -> Response {
    let st = hub.node.status().await;
    let mut checks = Vec::new();
    let leader_ok = st.leader.is_some() && st.leaderless_ms.is_none();
    checks.push((
        leader_ok,
        match st.leader {
            Some(l) => format!("leader known (node {l}, term {})", st.term),
            None => "leader known (none)".to_string(),
        },
    ));
    let applied = st.applied.unwrap_or(0);
    // The leader's index, not this node's commit index: a replica still receiving the log
    // (just joined, or back from a long partition) has a commit index as low as its log.
    let target = hub.node.leader_index(Duration::from_secs(1)).await;
    checks.push((
        target.is_some_and(|t| applied + MAX_APPLY_LAG >= t),
        match target {
            Some(t) => format!("applied up to the leader's commit (applied {applied}, leader {t})"),
            None => {
                format!("applied up to the leader's commit (applied {applied}, leader unreachable)")
            }
        },
    ));
    checks.push((
        st.initialized,
        "member of an initialized cluster".to_string(),
    ));
    let ok = checks.iter().all(|(ok, _)| *ok);
    let mut body = String::new();
    for (pass, what) in &checks {
        body.push_str(if *pass { "[+] " } else { "[-] " });
        body.push_str(what);
        body.push('\n');
    }
    body.push_str(if ok { "ready\n" } else { "not ready\n" });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}
