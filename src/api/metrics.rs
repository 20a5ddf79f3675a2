//! `GET {hub}metrics` (and `{hub}api/metrics`): Prometheus text for the hub, the replica's
//! Raft state and its embedded proxy (contract §1.1; proxy metrics merged in as issue 4 asks).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use rafthub_rbac::{Builtin, Resource};

use super::auth::require;
use super::ApiError;
use crate::hub::Hub;

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    out.push_str(&format!(
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    ));
}

/// The hub's own series; the proxy's come from `rafthub_proxy::Proxy::render_metrics`.
pub fn render(hub: &Hub) -> String {
    let mut out = String::new();
    {
        let st = hub.node.state();
        gauge(
            &mut out,
            "jupyterhub_total_users",
            "Users in the hub",
            st.user_count(),
        );
        gauge(
            &mut out,
            "jupyterhub_running_servers",
            "Servers ready or pending",
            st.active_servers(),
        );
        gauge(
            &mut out,
            "jupyterhub_pending_spawns",
            "Spawns in progress, cluster-wide",
            st.pending_spawns(),
        );
        gauge(
            &mut out,
            "rafthub_api_tokens",
            "API and OAuth tokens",
            st.token_count(),
        );
        gauge(
            &mut out,
            "rafthub_routes",
            "Replicated proxy routes",
            st.routes().count(),
        );
    }
    let m = hub.node.raft().metrics().borrow().clone();
    gauge(
        &mut out,
        "rafthub_raft_term",
        "Current Raft term",
        m.current_term,
    );
    gauge(
        &mut out,
        "rafthub_raft_is_leader",
        "1 on the leader",
        u8::from(m.current_leader == Some(hub.node.id)),
    );
    gauge(
        &mut out,
        "rafthub_raft_last_log_index",
        "Last log index",
        m.last_log_index.unwrap_or(0),
    );
    gauge(
        &mut out,
        "rafthub_raft_applied_index",
        "Last applied index",
        m.last_applied.map(|l| l.index).unwrap_or(0),
    );
    if let Some(p) = &hub.proxy {
        out.push_str(&p.render_metrics());
    }
    out
}

fn answer(hub: &Hub) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(hub),
    )
        .into_response()
}

async fn guarded(hub: Hub, headers: HeaderMap) -> Result<Response, ApiError> {
    if hub.cfg.authenticate_prometheus {
        let caller = hub.authenticate(&headers).await?;
        let st = hub.node.state();
        require(
            caller.as_ref(),
            &st,
            &[Builtin::ReadMetrics],
            Resource::Global,
        )?;
    }
    Ok(answer(&hub))
}

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "hub",
    security(("token" = [])),
    responses((status = 200, description = "Prometheus text: hub, Raft and proxy series.", content_type = "text/plain"))
)]
pub async fn metrics(State(hub): State<Hub>, headers: HeaderMap) -> Result<Response, ApiError> {
    guarded(hub, headers).await
}

#[utoipa::path(
    get,
    path = "/api/metrics",
    operation_id = "api_metrics",
    tag = "hub",
    security(("token" = [])),
    responses((status = 200, description = "Same as `/metrics`.", content_type = "text/plain"))
)]
pub async fn api_metrics(State(hub): State<Hub>, headers: HeaderMap) -> Result<Response, ApiError> {
    guarded(hub, headers).await
}
