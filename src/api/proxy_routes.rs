//! `/hub/api/proxy` (contract §1.11): the replicated route table as upstream's proxy API
//! shows it, and `check_routes` on demand.

use axum::body::Body;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rafthub_rbac::{Builtin, Resource};
use serde_json::{json, Map, Value};

use super::auth::require;
use super::request::{envelope, json_body, page};
use super::schema::ErrorBody;
use super::schema_io::{PageQuery, ProxyPatch, ReadQuery, RouteList};
use super::users::ctx;
use super::{json_response, ApiError};
use crate::hub::Hub;

/// The replicated route table (`proxy`), by routespec in sorted order.
#[utoipa::path(
    get,
    path = "/api/proxy",
    operation_id = "get_proxy_routes",
    tag = "proxy",
    security(("token" = [])),
    params(PageQuery, ReadQuery),
    responses(
        (status = 200, description = "Routes by routespec, or the pagination envelope (whose \
            `items` is a dict) when the client sends \
            `Accept: application/jupyterhub-pagination+json`.", body = RouteList),
        (status = 400, description = "A non-integer `offset` or `limit`.", body = ErrorBody)
    )
)]
pub async fn get(
    State(hub): State<Hub>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Result<Response, ApiError> {
    let c = ctx(&hub, &headers, rq).await?;
    let st = hub.node.state();
    require(c.caller.as_ref(), &st, &[Builtin::Proxy], Resource::Global)?;
    let p = page(
        &c.q,
        &headers,
        hub.cfg.api_page_default_limit,
        hub.cfg.api_page_max_limit,
    )?;
    let routes = hub_routes(&hub, &st);
    let total = routes.len();
    let mut items = Map::new();
    for (spec, target, mut data) in routes.into_iter().skip(p.offset).take(p.limit) {
        if let Some(ts) = hub.route_activity(&spec) {
            data.insert("last_activity".into(), json!(crate::timefmt::iso(ts)));
        }
        items.insert(
            spec.clone(),
            json!({"routespec": spec, "target": target, "data": data}),
        );
    }
    let body = if p.envelope {
        envelope(Value::Object(items), p, total, &headers, uri.path(), &c.q)
    } else {
        Value::Object(items)
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// What upstream's `Proxy.get_all_routes` lists, sorted by routespec: the routes the hub
/// added (`"jupyterhub": true`, which it strips from `data`), and the default route to the hub
/// (`{"hub": true}`), here this replica's own unless a replicated route replaced it.
fn hub_routes(hub: &Hub, st: &rafthub_raft::HubState) -> Vec<(String, String, Map<String, Value>)> {
    let mut out: std::collections::BTreeMap<String, (String, Map<String, Value>)> = st
        .routes()
        .filter_map(|r| {
            let mut data = r.data.to_map();
            data.remove("jupyterhub")?;
            Some((r.routespec.clone(), (r.target.clone(), data)))
        })
        .collect();
    let base = &hub.cfg.base_url;
    if let Some(h) = hub.routes.get(&rafthub_proxy::canonical_spec(base)) {
        let data = h.data();
        if data.get("hub") == Some(&Value::Bool(true)) && !out.contains_key(base) {
            out.insert(base.clone(), (h.target().to_string(), data));
        }
    }
    out.into_iter().map(|(s, (t, d))| (s, t, d)).collect()
}

async fn check_routes(hub: &Hub) -> Result<(), ApiError> {
    let cmds = crate::reconcile::route_commands(&hub.node.state(), &hub.cfg.base_url);
    for cmd in cmds {
        hub.node.write(cmd).await?;
    }
    Ok(())
}

/// `POST`: run `check_routes` now (`proxy`).
#[utoipa::path(
    post,
    path = "/api/proxy",
    operation_id = "check_proxy_routes",
    tag = "proxy",
    security(("token" = [])),
    responses((status = 200, description = "Routes checked (empty body)."))
)]
pub async fn post(State(hub): State<Hub>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    {
        let st = hub.node.state();
        require(caller.as_ref(), &st, &[Builtin::Proxy], Resource::Global)?;
    }
    check_routes(&hub).await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")]).into_response())
}

/// `PATCH {api_url?, auth_token?}`: upstream repoints its external proxy. The proxy here is
/// embedded in every replica, so the values are validated and acknowledged, then routes are
/// checked as upstream does.
#[utoipa::path(
    patch,
    path = "/api/proxy",
    operation_id = "update_proxy",
    tag = "proxy",
    security(("token" = [])),
    request_body = ProxyPatch,
    responses(
        (status = 200, description = "Accepted and routes checked (empty body)."),
        (status = 400, description = "No body, not a dict, or a value is not a string.",
            body = ErrorBody)
    )
)]
pub async fn patch(
    State(hub): State<Hub>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    {
        let st = hub.node.state();
        require(caller.as_ref(), &st, &[Builtin::Proxy], Resource::Global)?;
    }
    let data = json_body(body, hub.cfg.max_body_bytes).await?;
    match data {
        Some(Value::Object(o)) => {
            for k in ["api_url", "auth_token"] {
                if o.get(k).is_some_and(|v| !v.is_string()) {
                    return Err(ApiError::bad_request(format!("{k} must be a string")));
                }
            }
        }
        None => return Err(ApiError::bad_request("need JSON body")),
        _ => return Err(ApiError::bad_request("Request body must be JSON dict")),
    }
    check_routes(&hub).await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")]).into_response())
}
