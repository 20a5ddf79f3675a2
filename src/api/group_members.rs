//! `POST|DELETE /groups/{name}/users` and `PUT /groups/{name}/properties` (contract §1.9):
//! changes to an existing group.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rafthub_raft::command::{Command, Outcome};
use rafthub_rbac::{Builtin::*, Resource};
use serde_json::Value;

use super::auth::require;
use super::groups::{group_json, str_list};
use super::request::{json_body, Ty};
use super::schema::{ErrorBody, GroupModel};
use super::schema_io::GroupUsers;
use super::{json_response, outcome_error, ApiError};
use crate::hub::Hub;

/// `POST|DELETE /groups/{g}/users`: adds or removes members (`groups`).
#[utoipa::path(
    method(post, delete),
    path = "/api/groups/{name}/users",
    operation_id = "group_users",
    tag = "groups",
    security(("token" = [])),
    params(("name" = String, Path, description = "Group name.", min_length = 1)),
    request_body = GroupUsers,
    responses(
        (status = 200, description = "The group after the change.", body = GroupModel),
        (status = 400, description = "Not a dict, bad keys or types, or an unknown user.",
            body = ErrorBody),
        (status = 404, description = "No such group, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn members(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.group(&name).is_some()).await?;
    let caller = {
        let st = hub.node.state();
        let c = require(caller.as_ref(), &st, &[Groups], Resource::Group(&name))?.clone();
        if st.group(&name).is_none() {
            return Err(ApiError::not_found(format!("No such group: {name}")));
        }
        c
    };
    let data = json_body(body, hub.cfg.max_body_bytes)
        .await?
        .unwrap_or(Value::Null);
    let obj = super::request::check_model(&data, &[("users", Ty::List)], "group")?;
    let add = method == axum::http::Method::POST;
    if !obj.contains_key("users") {
        let verb = if add { "add" } else { "delete" };
        return Err(ApiError::bad_request(format!(
            "Must specify users to {verb}"
        )));
    }
    let users = str_list(obj.get("users"), "usernames")?;
    match hub
        .node
        .write(Command::SetGroupMembers {
            name: name.clone(),
            users,
            add,
        })
        .await?
    {
        Outcome::Ok => Ok(json_response(
            StatusCode::OK,
            &group_json(&hub, &caller, &name),
        )),
        Outcome::Invalid(m) => Err(ApiError::bad_request(m)),
        o => Err(outcome_error(o)),
    }
}

/// `PUT /groups/{g}/properties`: replaces the properties with any JSON dict (`groups`).
#[utoipa::path(
    put,
    path = "/api/groups/{name}/properties",
    operation_id = "set_group_properties",
    tag = "groups",
    security(("token" = [])),
    params(("name" = String, Path, description = "Group name.", min_length = 1)),
    request_body(content = Object, description = "The new properties (any dict)."),
    responses(
        (status = 200, description = "The group after the change.", body = GroupModel),
        (status = 400, description = "The body is not a dict.", body = ErrorBody),
        (status = 404, description = "No such group, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn properties(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.group(&name).is_some()).await?;
    let caller = {
        let st = hub.node.state();
        let c = require(caller.as_ref(), &st, &[Groups], Resource::Group(&name))?.clone();
        if st.group(&name).is_none() {
            return Err(ApiError::not_found(format!("No such group: {name}")));
        }
        c
    };
    let data = json_body(body, hub.cfg.max_body_bytes)
        .await?
        .unwrap_or(Value::Null);
    if !data.is_object() {
        return Err(ApiError::bad_request(format!(
            "properties must be a dict, not {}",
            super::request::py_type(&data)
        )));
    }
    match hub
        .node
        .write(Command::SetGroupProperties {
            name: name.clone(),
            properties: data,
        })
        .await?
    {
        Outcome::Ok => Ok(json_response(
            StatusCode::OK,
            &group_json(&hub, &caller, &name),
        )),
        o => Err(outcome_error(o)),
    }
}
