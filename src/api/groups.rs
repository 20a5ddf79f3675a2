//! `/groups` (contract §1.9).

use axum::body::Body;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rafthub_raft::command::{Command, Outcome};
use rafthub_rbac::{self as rbac, Builtin::*, Resource};
use serde_json::{json, Value};

use super::auth::{missing_credentials, require, Caller};
use super::models::View;
use super::names::py_strip;
use super::request::{envelope, json_body, page, Ty};
use super::schema::{ErrorBody, GroupModel};
use super::schema_io::{GroupList, GroupUsers, NewGroups, PageQuery, ReadQuery};
use super::users::ctx;
use super::{json_response, outcome_error, ApiError};
use crate::hub::Hub;

pub(super) fn str_list(v: Option<&Value>, what: &str) -> Result<Vec<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{what} must be str, not {}",
                        super::request::py_type(x)
                    ))
                })
            })
            .collect(),
        Some(x) => Err(ApiError::bad_request(format!(
            "{what} must be <class 'list'>, not: {}",
            super::request::py_type(x)
        ))),
    }
}

pub(super) fn group_json(hub: &Hub, caller: &Caller, name: &str) -> Value {
    let st = hub.node.state();
    let view = View {
        hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    st.group(name)
        .map(|g| Value::Object(view.group_model(g)))
        .unwrap_or(json!({}))
}

/// Lists the groups the caller may list (`list:groups`, possibly filtered), by id.
#[utoipa::path(
    get,
    path = "/api/groups",
    operation_id = "list_groups",
    tag = "groups",
    security(("token" = [])),
    params(PageQuery, ReadQuery),
    responses(
        (status = 200, description = "A list, or the pagination envelope when the client \
            sends `Accept: application/jupyterhub-pagination+json`.", body = GroupList),
        (status = 400, description = "A non-integer `offset` or `limit`.", body = ErrorBody)
    )
)]
pub async fn list(
    State(hub): State<Hub>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Result<Response, ApiError> {
    let c = ctx(&hub, &headers, rq).await?;
    let caller = c.caller.as_ref().ok_or_else(missing_credentials)?;
    let grant = match rbac::list_groups(&caller.scopes) {
        Ok(g) => g,
        Err(e) => return Err(super::auth::list_denied(e)),
    };
    let p = page(
        &c.q,
        &headers,
        hub.cfg.api_page_default_limit,
        hub.cfg.api_page_max_limit,
    )?;
    let st = hub.node.state();
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    let groups: Vec<_> = st
        .groups()
        .filter(|g| grant.allows_group(&g.name))
        .collect();
    let total = groups.len();
    let items: Vec<Value> = groups
        .into_iter()
        .skip(p.offset)
        .take(p.limit)
        .map(|g| Value::Object(view.group_model(g)))
        .collect();
    let body = if p.envelope {
        envelope(Value::Array(items), p, total, &headers, uri.path(), &c.q)
    } else {
        Value::Array(items)
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// Creates groups (`admin:groups`), all with the same initial members.
#[utoipa::path(
    post,
    path = "/api/groups",
    operation_id = "create_groups",
    tag = "groups",
    security(("token" = [])),
    request_body = NewGroups,
    responses(
        (status = 201, description = "The new groups.", body = Vec<GroupModel>),
        (status = 400, description = "No groups, an invalid name, bad keys or types, or an \
            unknown user.", body = ErrorBody),
        (status = 409, description = "A group already exists.", body = ErrorBody)
    )
)]
pub async fn create_many(
    State(hub): State<Hub>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    let caller = {
        let st = hub.node.state();
        require(caller.as_ref(), &st, &[AdminGroups], Resource::Global)?.clone()
    };
    let data = json_body(body, hub.cfg.max_body_bytes).await?;
    let Some(Value::Object(obj)) = data else {
        return Err(ApiError::bad_request(
            "Must specify at least one group to create",
        ));
    };
    let names = str_list(obj.get("groups"), "group names")?;
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "Must specify at least one group to create",
        ));
    }
    if let Some(k) = obj.keys().find(|k| *k != "groups" && *k != "users") {
        return Err(ApiError::bad_request(format!("Invalid JSON keys: {k}")));
    }
    let users = str_list(obj.get("users"), "usernames")?;
    create(&hub, &caller, names, users, true).await
}

async fn create(
    hub: &Hub,
    caller: &Caller,
    names: Vec<String>,
    users: Vec<String>,
    batch: bool,
) -> Result<Response, ApiError> {
    if let Some(bad) = names
        .iter()
        // Upstream checks no group names; `/` is allowed (GitLab subgroups, LDAP paths: the
        // URL carries it as %2F), empty and padded names are refused here.
        .find(|n| n.is_empty() || py_strip(n) != n.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "Invalid group name: {bad:?}"
        )));
    }
    match hub
        .node
        .write(Command::CreateGroups {
            names: names.clone(),
            users,
        })
        .await?
    {
        Outcome::Created(_) => {
            let models: Vec<Value> = names.iter().map(|n| group_json(hub, caller, n)).collect();
            let body = if batch {
                Value::Array(models)
            } else {
                models[0].clone()
            };
            Ok(json_response(StatusCode::CREATED, &body))
        }
        Outcome::Invalid(m) => Err(ApiError::bad_request(m)),
        o => Err(outcome_error(o)),
    }
}

/// One group.
#[utoipa::path(
    get,
    path = "/api/groups/{name}",
    operation_id = "get_group",
    tag = "groups",
    security(("token" = [])),
    params(("name" = String, Path, description = "Group name.", min_length = 1), ReadQuery),
    responses(
        (status = 200, description = "The group model, keys filtered by scope.",
            body = GroupModel),
        (status = 404, description = "No such group, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn get_one(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Result<Response, ApiError> {
    let c = ctx(&hub, &headers, rq).await?;
    hub.confirm_miss(|st| st.group(&name).is_some()).await?;
    let st = hub.node.state();
    let caller = require(
        c.caller.as_ref(),
        &st,
        &[ReadGroups, ReadGroupsName, ReadRolesGroups],
        Resource::Group(&name),
    )?;
    let g = st
        .group(&name)
        .ok_or_else(|| ApiError::not_found(format!("No such group: {name}")))?;
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    Ok(json_response(
        StatusCode::OK,
        &Value::Object(view.group_model(g)),
    ))
}

/// Creates one group (`admin:groups`).
#[utoipa::path(
    post,
    path = "/api/groups/{name}",
    operation_id = "create_group",
    tag = "groups",
    security(("token" = [])),
    params(("name" = String, Path, description = "Group name.", min_length = 1)),
    request_body(content = Option<GroupUsers>, description = "Optional initial members."),
    responses(
        (status = 201, description = "The new group.", body = GroupModel),
        (status = 400, description = "An invalid name, bad keys or types, or an unknown user.",
            body = ErrorBody),
        (status = 404, description = "The caller's scope does not cover this group.",
            body = ErrorBody),
        (status = 409, description = "The group already exists.", body = ErrorBody)
    )
)]
pub async fn create_one(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    let caller = {
        let st = hub.node.state();
        require(caller.as_ref(), &st, &[AdminGroups], Resource::Group(&name))?.clone()
    };
    let data = json_body(body, hub.cfg.max_body_bytes).await?;
    let users = match &data {
        None => Vec::new(),
        Some(Value::Object(o)) => {
            super::request::check_model(
                data.as_ref().unwrap_or(&Value::Null),
                // Upstream's `_group_model_types`: `name` and `roles` are accepted (and, as
                // there, not applied on creation).
                &[("name", Ty::Str), ("users", Ty::List), ("roles", Ty::List)],
                "group",
            )?;
            str_list(o.get("users"), "usernames")?
        }
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "Invalid JSON data: {}",
                super::request::py_repr(v)
            )))
        }
    };
    create(&hub, &caller, vec![name], users, false).await
}

/// Deletes a group (`delete:groups`).
#[utoipa::path(
    delete,
    path = "/api/groups/{name}",
    operation_id = "delete_group",
    tag = "groups",
    security(("token" = [])),
    params(("name" = String, Path, description = "Group name.", min_length = 1)),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No such group, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn delete(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.group(&name).is_some()).await?;
    {
        let st = hub.node.state();
        require(
            caller.as_ref(),
            &st,
            &[DeleteGroups],
            Resource::Group(&name),
        )?;
        if st.group(&name).is_none() {
            return Err(ApiError::not_found(format!("No such group: {name}")));
        }
    }
    match hub.node.write(Command::DeleteGroup { name }).await? {
        Outcome::Ok => Ok(StatusCode::NO_CONTENT.into_response()),
        o => Err(outcome_error(o)),
    }
}
