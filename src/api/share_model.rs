//! What the sharing endpoints (JupyterHub 5) share: the share and share-code models, the
//! request bodies (upstream validates them with pydantic: unknown keys are refused), the
//! filter every shared scope is forced to, and the always-paginated list answer.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rafthub_raft::state::model::{Share, ShareCode, ShareWith, User};
use rafthub_raft::HubState;
use rafthub_rbac::Scope;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::models::View;
use super::request::{envelope, page, Query};
use super::{json_response, ApiError};
use crate::hub::Hub;
use crate::timefmt::{iso, iso_opt};

/// `{"user": {"name"}, "name", "url", "full_url", "ready"}`: the server inside both models.
fn server_ref(view: &View, owner: &User, server: &str) -> Value {
    let url = view.server_url(&owner.name, server);
    json!({
        "user": {"name": owner.name},
        "name": server,
        "full_url": view.public_url(&url),
        "url": url,
        "ready": owner.servers.get(server).is_some_and(|s| s.ready()),
    })
}

/// Base scope names as the API shows them: filtered to their server, current names.
pub fn filtered(bases: &[String], owner: &str, server: &str) -> Vec<String> {
    bases
        .iter()
        .map(|b| format!("{b}!server={owner}/{server}"))
        .collect()
}

pub fn share_model(view: &View, st: &HubState, owner: &User, server: &str, sh: &Share) -> Value {
    let name = |n: &str| json!({ "name": n });
    let (user, group, kind) = match sh.with {
        ShareWith::User(id) => (
            st.user_by_id(id).map_or(Value::Null, |u| name(&u.name)),
            Value::Null,
            "user",
        ),
        ShareWith::Group(id) => (
            Value::Null,
            st.group_by_id(id).map_or(Value::Null, |g| name(&g.name)),
            "group",
        ),
    };
    json!({
        "server": server_ref(view, owner, server),
        "scopes": filtered(&sh.scopes, &owner.name, server),
        "user": user,
        "group": group,
        "kind": kind,
        "created_at": iso(sh.created_at),
    })
}

pub fn code_model(view: &View, owner: &User, server: &str, c: &ShareCode) -> Map<String, Value> {
    let v = json!({
        "server": server_ref(view, owner, server),
        "scopes": filtered(&c.scopes, &owner.name, server),
        "id": format!("sc_{}", c.id),
        "created_at": iso(c.created_at),
        "expires_at": iso(c.expires_at),
        "exchange_count": c.exchange_count,
        "last_exchanged_at": iso_opt(c.last_exchanged_at),
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a json object"),
    }
}

/// A list answer: always the pagination envelope, whatever the `Accept` header (upstream).
pub fn paged(
    hub: &Hub,
    items: Vec<Value>,
    headers: &HeaderMap,
    path: &str,
    q: &Query,
) -> Result<Response, ApiError> {
    let p = page(
        q,
        headers,
        hub.cfg.api_page_default_limit,
        hub.cfg.api_page_max_limit,
    )?;
    let total = items.len();
    let items: Vec<Value> = items.into_iter().skip(p.offset).take(p.limit).collect();
    let body = envelope(Value::Array(items), p, total, headers, path, q);
    Ok(json_response(StatusCode::OK, &body))
}

/// A sharing request body: `scopes` and one of `user`/`group` (grants and revokes), or
/// `scopes` and `expires_in` (codes). Nulls mean "not given", as with pydantic.
#[derive(Debug, Default)]
pub struct ShareBody {
    pub scopes: Option<Vec<String>>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub expires_in: Option<i64>,
}

/// Upstream's limits on `expires_in` of a share code: a minute to a year; a day by default.
pub const CODE_EXPIRES_MIN_S: i64 = 60;
pub const CODE_EXPIRES_MAX_S: i64 = 525_600 * 60;
pub const CODE_EXPIRES_DEFAULT_S: i64 = 86_400;

fn invalid(model: &str, field: &str, what: &str) -> ApiError {
    ApiError::bad_request(format!("1 validation error for {model}\n{field}\n  {what}"))
}

/// Parses a body the way the pydantic model `model` does; `keys` are the keys it has.
pub fn parse_body(data: Option<Value>, model: &str, keys: &[&str]) -> Result<ShareBody, ApiError> {
    let data = data.unwrap_or_else(|| json!({}));
    let Some(obj) = data.as_object() else {
        return Err(invalid(model, "", "Input should be a valid dictionary"));
    };
    let mut b = ShareBody::default();
    for (k, v) in obj {
        if !keys.contains(&k.as_str()) {
            return Err(invalid(model, k, "Extra inputs are not permitted"));
        }
        if v.is_null() {
            continue;
        }
        match k.as_str() {
            "scopes" => {
                let list = v
                    .as_array()
                    .ok_or_else(|| invalid(model, k, "Input should be a valid list"))?;
                let mut out = Vec::new();
                for (i, s) in list.iter().enumerate() {
                    let s = s.as_str().ok_or_else(|| {
                        invalid(
                            model,
                            &format!("scopes.{i}"),
                            "Input should be a valid string",
                        )
                    })?;
                    out.push(s.to_string());
                }
                b.scopes = (!out.is_empty()).then_some(out);
            }
            "user" | "group" => {
                let s = v
                    .as_str()
                    .ok_or_else(|| invalid(model, k, "Input should be a valid string"))?;
                if k == "user" {
                    b.user = Some(s.to_string());
                } else {
                    b.group = Some(s.to_string());
                }
            }
            "expires_in" => {
                let n = match v {
                    Value::Number(n) => n
                        .as_i64()
                        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                let n = n.ok_or_else(|| invalid(model, k, "Input should be a valid integer"))?;
                if !(CODE_EXPIRES_MIN_S..=CODE_EXPIRES_MAX_S).contains(&n) {
                    return Err(invalid(
                        model,
                        k,
                        &format!(
                            "Input should be between {CODE_EXPIRES_MIN_S} and {CODE_EXPIRES_MAX_S}"
                        ),
                    ));
                }
                b.expires_in = Some(n);
            }
            _ => unreachable!("keys checked above"),
        }
    }
    if keys.contains(&"user") {
        match (&b.user, &b.group) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "Expected exactly one of `user` or `group`, not both.",
                ))
            }
            (None, None) => {
                return Err(ApiError::bad_request(
                    "Specify exactly one of `user` or `group`",
                ))
            }
            _ => {}
        }
    }
    Ok(b)
}

/// Upstream's `_apply_filter`: every scope is forced to `!server=<owner>/<server>`; another
/// filter is a 400; an unknown scope name is a 400 here (upstream lets pydantic trip over a
/// `KeyError`, a 500). Returns base names, sorted and unique; none given means access.
pub fn share_bases(
    hub: &Hub,
    scopes: Option<&[String]>,
    owner: &str,
    server: &str,
) -> Result<Vec<String>, ApiError> {
    let own = format!("server={owner}/{server}");
    let mut bases = std::collections::BTreeSet::new();
    for scope in scopes.unwrap_or(&["access:servers".to_string()]) {
        let (base, filter) = scope.split_once('!').unwrap_or((scope, ""));
        if !filter.is_empty() && filter != own {
            return Err(ApiError::bad_request(format!(
                "!{filter} not allowed on sharing {scope}, only !{own}"
            )));
        }
        if Scope::parse(base, &hub.authz.registry).is_err() {
            return Err(ApiError::bad_request(format!("Unknown scope: {base}")));
        }
        bases.insert(base.to_string());
    }
    Ok(bases.into_iter().collect())
}

pub fn no_such_server(owner: &str, server: &str) -> ApiError {
    ApiError::not_found(format!("No such server: {owner}/{server}"))
}

/// Whether `owner` has a server row named `server` (stopped ones included).
pub fn has_server(st: &HubState, owner: &str, server: &str) -> bool {
    st.user(owner)
        .is_some_and(|u| u.servers.contains_key(server))
}

/// Upstream's spawner lookup: the server exists (a local miss is confirmed with the leader
/// first), else 404.
pub async fn server_exists(hub: &Hub, owner: &str, server: &str) -> Result<(), ApiError> {
    hub.confirm_miss(|st| has_server(st, owner, server)).await?;
    if has_server(&hub.node.state(), owner, server) {
        Ok(())
    } else {
        Err(no_such_server(owner, server))
    }
}

/// The sharer must hold every scope it grants on the server: 403 naming the first it lacks.
pub fn check_grantable(
    st: &HubState,
    caller: &Caller,
    bases: &[String],
    owner: &str,
    server: &str,
) -> Result<(), ApiError> {
    let m = crate::authz::membership(st);
    let res = rafthub_rbac::Resource::Server {
        user: owner,
        server,
    };
    match bases.iter().find(|b| !caller.scopes.grants(b, res, &m)) {
        None => Ok(()),
        Some(b) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("Do not have permission to grant share with scope {b}!server={owner}/{server}"),
        )),
    }
}
