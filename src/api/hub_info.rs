//! `/info`, `/user` (whoami) and `/shutdown` (contract §1.1-§1.2).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rafthub_raft::state::model::Owner as ModelOwner;
use rafthub_rbac::{self as rbac, Builtin, Owner, Resource};
use serde_json::{json, Value};

use super::auth::require;
use super::models::View;
use super::request::{json_body, py_repr};
use super::schema::{Info, Message, WhoAmI};
use super::schema_io::Shutdown;
use super::{json_response, ApiError};
use crate::hub::Hub;

/// Versions of the hub and its parts, and this replica's view of the cluster.
#[utoipa::path(
    get,
    path = "/api/info",
    operation_id = "get_info",
    tag = "hub",
    security(("token" = [])),
    responses((status = 200, description = "Hub information (scope `read:hub`).", body = Info))
)]
pub async fn info(State(hub): State<Hub>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    let st = hub.node.state();
    require(caller.as_ref(), &st, &[Builtin::ReadHub], Resource::Global)?;
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "version": crate::JUPYTERHUB_VERSION,
            "python": format!("rafthub {} (Rust)", crate::RAFTHUB_VERSION),
            "sys_executable": exe,
            "spawner": {"class": "rafthub.LocalProcessSpawner", "version": crate::RAFTHUB_VERSION},
            "authenticator": {"class": "rafthub.Authenticator", "version": crate::RAFTHUB_VERSION},
            "rafthub": {
                "version": crate::RAFTHUB_VERSION,
                "node_id": hub.node.id,
                "leader": hub.node.current_leader(),
            },
        }),
    ))
}

/// `GET /hub/api/user`: the caller's own model plus `token_id`, `session_id` and its sorted
/// expanded `scopes`. Every token may identify its owner here.
#[utoipa::path(
    get,
    path = "/api/user",
    operation_id = "whoami",
    tag = "hub",
    security(("token" = [])),
    responses(
        (status = 200, description = "The caller's user or service model.", body = WhoAmI),
        (status = 403, description = "No valid token (`message` is null, as upstream).",
            body = super::schema::ErrorBody)
    )
)]
pub async fn whoami(State(hub): State<Hub>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = hub
        .authenticate(&headers)
        .await?
        .ok_or_else(|| ApiError::bare(StatusCode::FORBIDDEN))?;
    let st = hub.node.state();
    let me = match &caller.owner {
        ModelOwner::User(_) => Owner::User(&caller.name),
        ModelOwner::Service(_) => Owner::Service(&caller.name),
    };
    let w = rbac::whoami(&caller.scopes, me);
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &w.model_scopes,
        include_stopped: false,
    };
    let mut model = match &caller.owner {
        ModelOwner::User(id) => st.user_by_id(*id).map(|u| view.user_model(u)),
        ModelOwner::Service(n) => st.service(n).map(|s| view.service_model(s)),
    }
    .ok_or_else(|| ApiError::bare(StatusCode::FORBIDDEN))?;
    if matches!(caller.owner, ModelOwner::Service(_)) {
        // Upstream builds this model from the service's database row, which has no url,
        // info or display columns (they live on the configured service object): null here,
        // unlike GET /services.
        for k in ["url", "info", "display"] {
            if let Some(v) = model.get_mut(k) {
                *v = Value::Null;
            }
        }
    }
    if model.contains_key("admin") {
        // whoami reports the real admin flag, also for services (unlike GET /services).
        model.insert("admin".into(), json!(caller.admin));
    }
    model.insert(
        "token_id".into(),
        json!(caller.token_id.map(|i| format!("a{i}"))),
    );
    model.insert("session_id".into(), json!(caller.session_id));
    model.insert("scopes".into(), json!(w.scopes));
    Ok(json_response(StatusCode::OK, &Value::Object(model)))
}

/// Stops this replica (the others keep serving). Servers are stopped only when asked for
/// explicitly with `"servers": true`.
#[utoipa::path(
    post,
    path = "/api/shutdown",
    operation_id = "shutdown",
    tag = "hub",
    security(("token" = [])),
    request_body(content = Option<Shutdown>, description = "Optional; no body keeps servers."),
    responses(
        (status = 202, description = "This replica stops shortly (scope `shutdown`).",
            body = Message),
        (status = 400, description = "`servers` or `proxy` is not a boolean.",
            body = super::schema::ErrorBody)
    )
)]
pub async fn shutdown(
    State(hub): State<Hub>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    {
        let st = hub.node.state();
        require(caller.as_ref(), &st, &[Builtin::Shutdown], Resource::Global)?;
    }
    let data = json_body(body, hub.cfg.max_body_bytes).await?;
    let mut stop_servers = false;
    if let Some(Value::Object(o)) = &data {
        for key in ["proxy", "servers"] {
            if let Some(v) = o.get(key) {
                let Some(b) = v.as_bool() else {
                    return Err(ApiError::bad_request(format!(
                        "{key} must be true or false, got {}",
                        py_repr(v)
                    )));
                };
                if key == "servers" {
                    stop_servers = b;
                }
            }
        }
    }
    if stop_servers {
        crate::spawn::stop_all(&hub).await;
    }
    let tx = hub.shutdown.clone();
    tokio::spawn(async move {
        // Let the 202 reach the client first.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        tx.send_replace(true);
    });
    Ok(json_response(
        StatusCode::ACCEPTED,
        &json!({"message": "Shutting down Hub"}),
    ))
}
