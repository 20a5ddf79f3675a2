//! `/users/{name}/server` and `/users/{name}/servers/{server}` (contract §1.5): start, stop,
//! named servers, and the spawn progress stream (§1.6).

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rafthub_raft::command::{Command, Outcome};
use rafthub_rbac::{Builtin, Resource};
use serde_json::{json, Value};

use super::auth::require;
use super::models::View;
use super::names::{valid_display_name, valid_server_name};
use super::request::{json_body, py_repr};
use super::{json_response, outcome_error, ApiError};
use crate::hub::Hub;

pub(super) fn log_name(user: &str, server: &str) -> String {
    if server.is_empty() {
        user.to_string()
    } else {
        format!("{user}:{server}")
    }
}

fn plain(status: StatusCode) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], "").into_response()
}

/// Upstream `get_server_json_body`: `(display_name, user_options)`.
fn server_body(v: Option<Value>) -> Result<(Option<String>, Option<Value>), ApiError> {
    let Some(v) = v else { return Ok((None, None)) };
    let Value::Object(o) = v else {
        return Err(ApiError::bad_request("Body must be a JSON object"));
    };
    if o.get("display_name").is_some_and(|d| !d.is_string()) {
        return Err(ApiError::bad_request("display_name must be a string"));
    }
    if o.get("user_options")
        .is_some_and(|u| !(u.is_null() || u.is_object()))
    {
        return Err(ApiError::bad_request(
            "user_options must be an object or null",
        ));
    }
    if !o.contains_key("display_name") && !o.contains_key("user_options") {
        // Backward compatibility (5.x): the whole body is the user options.
        return Ok((None, Some(Value::Object(o))));
    }
    let dn = o
        .get("display_name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let uo = o.get("user_options").cloned().filter(|u| !u.is_null());
    Ok((dn, uo))
}

impl Hub {
    /// Upstream `_check_named_server_request`.
    fn check_named(
        &self,
        user: &str,
        server: &str,
        display_name: &str,
        check_limit: bool,
    ) -> Result<(), ApiError> {
        if !self.cfg.allow_named_servers {
            return Err(ApiError::bad_request("Named servers are not enabled."));
        }
        let st = self.node.state();
        let u = st
            .user(user)
            .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
        let exists = u.servers.contains_key(server);
        let limit = self.cfg.named_server_limit_per_user as usize;
        if check_limit
            && limit > 0
            && !exists
            && u.servers.keys().filter(|n| !n.is_empty()).count() >= limit
        {
            return Err(ApiError::bad_request(format!(
                "User {user} already has the maximum of {limit} named servers.  One must be deleted before a new server can be created"
            )));
        }
        if !exists {
            if !valid_server_name(server) {
                return Err(ApiError::bad_request(format!(
                    "Invalid server_name: {}",
                    py_repr(&Value::String(server.to_string()))
                )));
            }
            if !valid_display_name(display_name) {
                return Err(ApiError::bad_request(format!(
                    "Invalid display_name: {display_name}"
                )));
            }
        }
        Ok(())
    }

    fn server_json(&self, caller: &super::auth::Caller, user: &str, server: &str) -> Option<Value> {
        let st = self.node.state();
        let u = st.user(user)?;
        let s = u.servers.get(server)?;
        let view = View {
            hub: self,
            st: &st,
            scopes: &caller.scopes,
            include_stopped: true,
        };
        Some(view.server_model(u, s))
    }
}

pub async fn get(
    hub: Hub,
    user: String,
    server: String,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&user).is_some()).await?;
    let caller = {
        let st = hub.node.state();
        require(
            caller.as_ref(),
            &st,
            &[Builtin::ReadServers],
            Resource::Server {
                user: &user,
                server: &server,
            },
        )?
        .clone()
    };
    let model = hub
        .server_json(&caller, &user, &server)
        .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    Ok(json_response(StatusCode::OK, &model))
}

/// `POST`: start. 201 when ready within `slow_spawn_timeout`, else 202.
pub async fn start(
    hub: Hub,
    user: String,
    server: String,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&user).is_some()).await?;
    {
        let st = hub.node.state();
        require(
            caller.as_ref(),
            &st,
            &[Builtin::StartServers],
            Resource::Server {
                user: &user,
                server: &server,
            },
        )?;
        st.user(&user)
            .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    }
    let (display_name, user_options) = server_body(json_body(body, hub.cfg.max_body_bytes).await?)?;
    // Upstream: a display name in the body replaces the server's; a new named server
    // without one is named after itself; an existing one keeps its own.
    let display_name = if server.is_empty() {
        None
    } else {
        let given = display_name.filter(|d| !d.is_empty());
        let dn = given.clone().unwrap_or_else(|| server.clone());
        hub.check_named(&user, &server, &dn, true)?;
        let exists = {
            let st = hub.node.state();
            st.user(&user)
                .is_some_and(|u| u.servers.contains_key(&server))
        };
        if exists {
            given
        } else {
            Some(dn)
        }
    };
    let pending = {
        let st = hub.node.state();
        st.user(&user)
            .and_then(|u| u.servers.get(&server))
            .and_then(|s| s.pending())
    };
    match pending {
        Some("spawn") => return Ok(plain(StatusCode::ACCEPTED)),
        Some(p) => {
            return Err(ApiError::bad_request(format!(
                "{} is pending {p}",
                log_name(&user, &server)
            )))
        }
        None => {}
    }
    let timeout = Duration::from_secs(hub.spawner_cfg.slow_spawn_timeout_s);
    match crate::spawn::start(&hub, &user, &server, user_options, display_name, timeout).await? {
        crate::spawn::Started::Ready => Ok(plain(StatusCode::CREATED)),
        crate::spawn::Started::Pending => Ok(plain(StatusCode::ACCEPTED)),
    }
}

/// `DELETE`: stop (and with `{"remove": true}` delete a named server). 204 or 202.
pub async fn stop(
    hub: Hub,
    user: String,
    server: String,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&user).is_some()).await?;
    {
        let st = hub.node.state();
        require(
            caller.as_ref(),
            &st,
            &[Builtin::DeleteServers],
            Resource::Server {
                user: &user,
                server: &server,
            },
        )?;
        let u = st
            .user(&user)
            .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
        if !server.is_empty() {
            if !hub.cfg.allow_named_servers {
                return Err(ApiError::bad_request("Named servers are not enabled."));
            }
            if !u.servers.contains_key(&server) {
                return Err(ApiError::not_found(format!(
                    "{user} has no server named '{server}'"
                )));
            }
        }
    }
    let remove = match json_body(body, hub.cfg.max_body_bytes).await? {
        // Upstream tests `if remove:`: Python truthiness, so `"yes"` and `1` remove too.
        Some(Value::Object(o)) => o.get("remove").is_some_and(py_truthy),
        _ => false,
    };
    if remove && server.is_empty() {
        return Err(ApiError::bad_request("Cannot delete the default server"));
    }
    let timeout = Duration::from_secs(hub.spawner_cfg.slow_stop_timeout_s);
    if crate::spawn::stop(&hub, &user, &server, remove, timeout).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Ok(StatusCode::ACCEPTED.into_response())
    }
}

/// `PUT`: create a named server without starting it.
pub async fn create(
    hub: Hub,
    user: String,
    server: String,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&user).is_some()).await?;
    let caller = {
        let st = hub.node.state();
        let c = require(
            caller.as_ref(),
            &st,
            &[Builtin::StartServers],
            Resource::Server {
                user: &user,
                server: &server,
            },
        )?
        .clone();
        let u = st
            .user(&user)
            .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
        if server.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("User {user} already has a default server"),
            ));
        }
        if u.servers.contains_key(&server) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("User {user} already has server {server}"),
            ));
        }
        c
    };
    let (display_name, user_options) = server_body(json_body(body, hub.cfg.max_body_bytes).await?)?;
    let dn = display_name
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| server.clone());
    hub.check_named(&user, &server, &dn, true)?;
    let cmd = Command::PutServer {
        user: user.clone(),
        server: server.clone(),
        display_name: Some(dn),
        user_options: user_options.unwrap_or_else(|| json!({})),
        limit: Some(hub.cfg.named_server_limit_per_user),
    };
    match hub.node.write(cmd).await? {
        Outcome::Ok => {}
        Outcome::Conflict(m) => return Err(ApiError::new(StatusCode::CONFLICT, m)),
        o => return Err(outcome_error(o)),
    }
    let model = hub
        .server_json(&caller, &user, &server)
        .unwrap_or(json!({}));
    Ok(json_response(StatusCode::CREATED, &model))
}

/// `PATCH`: rename, display name, user options of a stopped server.
pub async fn patch(
    hub: Hub,
    user: String,
    server: String,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&user).is_some()).await?;
    let caller = {
        let st = hub.node.state();
        let c = require(
            caller.as_ref(),
            &st,
            &[Builtin::StartServers],
            Resource::Server {
                user: &user,
                server: &server,
            },
        )?
        .clone();
        let u = st
            .user(&user)
            .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
        if !u.servers.contains_key(&server) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "User {} has no such server {}",
                    u.name,
                    py_repr(&Value::String(server.clone()))
                ),
            ));
        }
        c
    };
    let body = json_body(body, hub.cfg.max_body_bytes).await?;
    let Some(Value::Object(o)) = body.filter(|b| b.as_object().is_some_and(|o| !o.is_empty()))
    else {
        return Err(ApiError::bad_request(
            "Must specify at least one field to modify.",
        ));
    };
    if let Some(k) = o
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "display_name" | "user_options"))
    {
        // Upstream answers 500 here (a bug); a clear 400 is what clients need.
        return Err(ApiError::bad_request(format!("Unrecognized field: {k}")));
    }
    let new_name = match o.get("name") {
        None => None,
        Some(Value::String(n)) if !server.is_empty() && valid_server_name(n) => Some(n.clone()),
        Some(Value::String(n)) => {
            return Err(ApiError::bad_request(format!(
                "Invalid server_name: {}",
                py_repr(&Value::String(n.clone()))
            )))
        }
        Some(_) => return Err(ApiError::bad_request("name must be a string")),
    };
    let display_name = match o.get("display_name") {
        None => None,
        Some(Value::String(d)) if valid_display_name(d) => Some(d.clone()),
        Some(_) => return Err(ApiError::bad_request("Invalid display_name")),
    };
    let user_options = match o.get("user_options") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "user_options must be an object or null",
            ))
        }
    };
    let target = new_name.clone().unwrap_or_else(|| server.clone());
    let cmd = Command::RenameServer {
        user: user.clone(),
        server: server.clone(),
        new_name,
        display_name,
        user_options,
    };
    match hub.node.write(cmd).await? {
        Outcome::Ok => {}
        Outcome::Conflict(m) => return Err(ApiError::new(StatusCode::CONFLICT, m)),
        Outcome::Invalid(m) => return Err(ApiError::bad_request(m)),
        o => return Err(outcome_error(o)),
    }
    let model = hub
        .server_json(&caller, &user, &target)
        .unwrap_or(json!({}));
    Ok(json_response(StatusCode::OK, &model))
}

/// Python's truthiness of a JSON value.
fn py_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}
